-- Nexmark q1: currency conversion. Each bid's price from dollars to
-- euros (x 0.908).
CREATE TABLE nexmark WITH (connector = 'nexmark', {{SOURCE}});
CREATE TABLE results WITH ({{SINK}});
INSERT INTO results
SELECT bid.auction AS auction, bid.bidder AS bidder,
       bid.price * 0.908 AS price, bid.datetime AS datetime,
       bid.extra AS extra
FROM nexmark
WHERE bid IS NOT NULL;
