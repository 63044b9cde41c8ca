package nexmark_test

import (
	"fmt"
	"strings"
	"testing"
)

// q4's parts and variants checked against SQLite on the oracle's input: the
// per-auction maxima (the inner updating aggregate, thousands of groups),
// and count/sum/avg/min/max/count(DISTINCT)/HAVING over them (outer
// aggregates whose groups see retractions as the maxima and bid counts
// change).
func TestOracleUpdating(t *testing.T) {
	const joined = `FROM (SELECT auction.id AS id, auction.category AS category,
               auction.datetime AS datetime, auction.expires AS expires
        FROM nexmark WHERE auction IS NOT NULL) AS A
  JOIN (SELECT bid.auction AS auction, bid.price AS price, bid.datetime AS datetime
        FROM nexmark WHERE bid IS NOT NULL) AS B
    ON A.id = B.auction
  WHERE B.datetime BETWEEN A.datetime AND A.expires`
	inner := `SELECT A.id AS id, A.category AS category, max(B.price) AS final, count(*) AS bids ` + joined + ` GROUP BY A.id, A.category`
	const sqliteInner = `SELECT A.id AS id, A.category AS category, max(B.price) AS final, count(*) AS bids
		FROM auction A JOIN bid B ON A.id = B.auction
		WHERE B.datetime BETWEEN A.datetime AND A.expires
		GROUP BY A.id, A.category`
	cases := []struct{ name, query, sqlite string }{
		{"per-auction maxima", inner, sqliteInner},
		{"count, sum and HAVING over maxima",
			`SELECT Q.category AS category, count(*) AS n, sum(Q.final) AS total, avg(Q.bids) AS bids FROM (` + inner + `) AS Q GROUP BY Q.category HAVING sum(Q.bids) > 50`,
			`SELECT category, count(*) AS n, sum(final) AS total, avg(bids) AS bids FROM (` + sqliteInner + `) GROUP BY category HAVING sum(bids) > 50`},
		// As an auction's maximum rises its old value is retracted: the
		// category's min and max are found again from the values left.
		{"min, max and count(DISTINCT) over maxima",
			`SELECT Q.category AS category, min(Q.final) AS lo, max(Q.final) AS hi, count(DISTINCT Q.final) AS d FROM (` + inner + `) AS Q GROUP BY Q.category`,
			`SELECT category, min(final) AS lo, max(final) AS hi, count(DISTINCT final) AS d FROM (` + sqliteInner + `) GROUP BY category`},
		// Auctions move from one bid count to the next, so groups empty.
		{"auctions per bid count",
			`SELECT Q.bids AS bids, count(*) AS auctions FROM (` + inner + `) AS Q GROUP BY Q.bids`,
			`SELECT bids, count(*) AS auctions FROM (` + sqliteInner + `) GROUP BY bids`},
	}
	db := loadSQLite(t, oracleSource)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			want := sqliteRows(t, db, c.sqlite)
			if len(want) == 0 {
				t.Fatal("the SQLite side is empty")
			}
			q := strings.Join([]string{
				"CREATE TABLE nexmark WITH (connector = 'nexmark', " + oracleSource.Options() + ");",
				"CREATE TABLE results WITH (connector = 'collect');",
				"INSERT INTO results " + c.query + ";",
			}, "\n")
			for _, par := range []int{1, 2} {
				got, err := runCollect(t, q, par)
				if err != nil {
					t.Fatalf("parallelism %d: %v", par, err)
				}
				compareRows(t, fmt.Sprintf("%s at parallelism %d", c.name, par), got, want)
				t.Logf("parallelism %d: %d rows match SQLite", par, len(got))
			}
		})
	}
}
