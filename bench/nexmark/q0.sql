-- Nexmark q0: passthrough. Every bid, unchanged; measures the cost of
-- reading, projecting and writing events.
CREATE TABLE nexmark WITH (connector = 'nexmark', {{SOURCE}});
CREATE TABLE results WITH ({{SINK}});
INSERT INTO results
SELECT bid.auction AS auction, bid.bidder AS bidder, bid.price AS price,
       bid.channel AS channel, bid.url AS url, bid.datetime AS datetime,
       bid.extra AS extra
FROM nexmark
WHERE bid IS NOT NULL;
