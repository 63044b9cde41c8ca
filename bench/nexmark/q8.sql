-- Nexmark q8: monitor new users. Persons who created an auction in the
-- same 10-second tumbling window in which they registered (a windowed
-- join of persons and auction sellers).
CREATE TABLE nexmark WITH (connector = 'nexmark', {{SOURCE}});
CREATE TABLE results WITH ({{SINK}});
INSERT INTO results
SELECT P.id AS id, P.name AS name, P.w.start AS window_start, P.w.end AS window_end
FROM (SELECT person.id AS id, person.name AS name, tumble(interval '10 seconds') AS w
      FROM nexmark WHERE person IS NOT NULL
      GROUP BY 1, 2, 3) AS P
JOIN (SELECT auction.seller AS seller, tumble(interval '10 seconds') AS w
      FROM nexmark WHERE auction IS NOT NULL
      GROUP BY 1, 2) AS A
  ON P.id = A.seller AND P.w = A.w;
