-- Nexmark q7: highest bid. The bids with the highest price in each
-- 10-second tumbling window (a windowed join of the bids with their
-- window's maximum).
CREATE TABLE nexmark WITH (connector = 'nexmark', {{SOURCE}});
CREATE TABLE results WITH ({{SINK}});
INSERT INTO results
SELECT B.auction AS auction, B.price AS price, B.bidder AS bidder,
       B.w.start AS window_start, B.w.end AS window_end
FROM (SELECT bid.auction AS auction, bid.price AS price, bid.bidder AS bidder,
             tumble(interval '10 seconds') AS w
      FROM nexmark WHERE bid IS NOT NULL
      GROUP BY 1, 2, 3, 4) AS B
JOIN (SELECT max(bid.price) AS maxprice, tumble(interval '10 seconds') AS w
      FROM nexmark WHERE bid IS NOT NULL
      GROUP BY 2) AS M
  ON B.w = M.w AND B.price = M.maxprice;
