-- Nexmark q2: selection. Bids on a set of auctions (ids divisible by
-- 123, as in the Flink and Arroyo suites).
CREATE TABLE nexmark WITH (connector = 'nexmark', {{SOURCE}});
CREATE TABLE results WITH ({{SINK}});
INSERT INTO results
SELECT bid.auction AS auction, bid.price AS price
FROM nexmark
WHERE bid IS NOT NULL AND bid.auction % 123 = 0;
