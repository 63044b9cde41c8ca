-- Nexmark q5: hot items. The auction with the most bids in each sliding
-- window (10 s wide, every 2 s). Ties go to the lowest auction id, so the
-- result is deterministic.
CREATE TABLE nexmark WITH (connector = 'nexmark', {{SOURCE}});
CREATE TABLE results WITH ({{SINK}});
INSERT INTO results
SELECT auction, num, w.start AS window_start, w.end AS window_end
FROM (
  SELECT auction, num, w,
         ROW_NUMBER() OVER (PARTITION BY w ORDER BY num DESC, auction ASC) AS row_num
  FROM (
    SELECT bid.auction AS auction, count(*) AS num,
           hop(interval '2 seconds', interval '10 seconds') AS w
    FROM nexmark
    WHERE bid IS NOT NULL
    GROUP BY 1, 3
  ) AS counts
) AS ranked
WHERE row_num = 1;
