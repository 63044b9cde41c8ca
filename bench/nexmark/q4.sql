-- Nexmark q4: average closing price per category. The winning (highest)
-- bid of each auction among the bids made while it was open, averaged per
-- category. Both aggregates are updating (unwindowed).
CREATE TABLE nexmark WITH (connector = 'nexmark', {{SOURCE}});
CREATE TABLE results WITH ({{SINK}});
INSERT INTO results
SELECT Q.category AS category, avg(Q.final) AS avg_final
FROM (
  SELECT A.id AS id, A.category AS category, max(B.price) AS final
  FROM (SELECT auction.id AS id, auction.category AS category,
               auction.datetime AS datetime, auction.expires AS expires
        FROM nexmark WHERE auction IS NOT NULL) AS A
  JOIN (SELECT bid.auction AS auction, bid.price AS price, bid.datetime AS datetime
        FROM nexmark WHERE bid IS NOT NULL) AS B
    ON A.id = B.auction
  WHERE B.datetime BETWEEN A.datetime AND A.expires
  GROUP BY A.id, A.category
) AS Q
GROUP BY Q.category;
