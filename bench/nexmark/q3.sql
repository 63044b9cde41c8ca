-- Nexmark q3: local item suggestion. Sellers in OR, ID or CA with an
-- auction in category 10 (an unwindowed inner join of auctions and
-- persons on the seller).
CREATE TABLE nexmark WITH (connector = 'nexmark', {{SOURCE}});
CREATE TABLE results WITH ({{SINK}});
INSERT INTO results
SELECT P.name AS name, P.city AS city, P.state AS state, A.id AS id
FROM (SELECT auction.id AS id, auction.seller AS seller, auction.category AS category
      FROM nexmark WHERE auction IS NOT NULL) AS A
JOIN (SELECT person.id AS id, person.name AS name, person.city AS city, person.state AS state
      FROM nexmark WHERE person IS NOT NULL) AS P
  ON A.seller = P.id
WHERE A.category = 10 AND (P.state = 'OR' OR P.state = 'ID' OR P.state = 'CA');
