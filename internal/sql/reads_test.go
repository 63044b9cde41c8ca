package sql

import (
	"testing"
)

// tokenReads finds what a statement may read, erring towards "may".
func TestTokenReads(t *testing.T) {
	structs := []string{"person", "auction", "bid"}
	for _, c := range []struct {
		q                  string
		person, auction    bool
		channel, url, extr bool
	}{
		{`INSERT INTO r SELECT bid.auction AS auction, bid.price AS price FROM nexmark WHERE bid IS NOT NULL AND bid.auction % 123 = 0`, false, false, false, false, false},
		{`INSERT INTO r SELECT bid.auction AS auction, bid.price * 0.908 AS price, bid.extra AS extra FROM nexmark WHERE bid IS NOT NULL`, false, false, false, false, true},
		{`SELECT count(*) FROM nexmark WHERE bid IS NULL`, false, false, false, false, false},
		{`SELECT * FROM nexmark`, true, true, true, true, true},
		{`SELECT n.* FROM nexmark AS n`, true, true, true, true, true},
		{`SELECT n.auction FROM nexmark AS n`, false, true, false, false, false},
		{`SELECT auction.seller FROM nexmark`, false, true, false, false, false},
		{`SELECT bid FROM nexmark`, false, false, true, true, true},
		{`SELECT bid.auction FROM nexmark WHERE bid IS DISTINCT FROM NULL`, false, false, true, true, true},
		{`SELECT person.name FROM nexmark WHERE person IS NOT NULL`, true, false, false, false, false},
		{`SELECT bid.url FROM nexmark NATURAL JOIN other`, true, true, true, true, true},
		{`SELECT 'person' AS x FROM nexmark`, true, false, false, false, false},
	} {
		_, stmts, diags := split(c.q)
		if len(diags) > 0 || len(stmts) != 1 {
			t.Fatalf("%s: %v", c.q, diags)
		}
		r := tokenReads(stmts[0].tokens, structs)
		got := [5]bool{r.Column("person"), r.Column("auction"), r.Field("bid", "channel"), r.Field("bid", "url"), r.Field("bid", "extra")}
		want := [5]bool{c.person, c.auction, c.channel, c.url, c.extr}
		if got != want {
			t.Errorf("%s:\n got person, auction, bid.channel, bid.url, bid.extra = %v\nwant %v", c.q, got, want)
		}
	}
}
