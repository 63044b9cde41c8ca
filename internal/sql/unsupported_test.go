package sql

import (
	"errors"
	"strings"
	"testing"
)

// Common queries Runnel does not run each get an error naming what is
// unsupported (and never a panic).
func TestUnsupportedConstructs(t *testing.T) {
	ddl := impulseDDL + "CREATE TABLE n WITH (connector = 'nexmark');\n"
	cases := []struct{ q, want string }{
		{"SELECT counter FROM impulse ORDER BY counter", "ORDER BY is not supported on streams"},
		{"SELECT counter FROM impulse LIMIT 10", "LIMIT is not supported"},
		{"SELECT counter FROM impulse UNION SELECT counter FROM impulse", "UNION is not supported"},
		{"SELECT counter FROM impulse EXCEPT SELECT counter FROM impulse", "EXCEPT is not supported"},
		{"SELECT DISTINCT counter FROM impulse", "SELECT DISTINCT is not supported"},
		{"WITH x AS (SELECT counter FROM impulse) SELECT * FROM x", "WITH (common table expressions) is not supported"},
		{"SELECT counter FROM impulse WHERE counter IN (SELECT counter FROM impulse)", "subqueries are not supported"},
		{"SELECT (SELECT 1) FROM impulse", "subqueries are not supported"},
		{"SELECT rank() OVER (PARTITION BY counter ORDER BY counter) FROM impulse", "window function 'rank' is not supported"},
		{"SELECT lag(counter) OVER (ORDER BY counter) FROM impulse", "window function 'lag' is not supported"},
		{"SELECT counter, ROW_NUMBER() OVER (PARTITION BY counter ORDER BY counter) AS r FROM impulse", "needs PARTITION BY a window"},
		{"SELECT * FROM (SELECT counter, count(*) AS n FROM impulse GROUP BY counter) AS u JOIN impulse ON u.counter = impulse.counter", "a join over an updating input"},
		{"SELECT * FROM impulse a LEFT JOIN impulse b ON a.counter = b.counter", "LEFT JOIN is not supported"},
		{"SELECT * FROM impulse a FULL OUTER JOIN impulse b ON a.counter = b.counter", "FULL JOIN is not supported"},
		{"SELECT * FROM impulse a JOIN impulse b USING (counter)", "need an ON condition"},
		{"SELECT * FROM impulse a, impulse b", "comma-separated FROM lists"},
		{"SELECT a.counter FROM impulse a JOIN impulse b ON a.counter < b.counter", "at least one equality"},
		{"SELECT stddev(counter) FROM impulse GROUP BY tumble(interval '1 second')", "aggregate function 'stddev' is not supported"},
		{"SELECT count(*) FILTER (WHERE counter > 1) FROM impulse GROUP BY tumble(interval '1 second')", "FILTER and ORDER BY in aggregates are not supported"},
		{"SELECT count(*) FROM impulse GROUP BY tumble(interval '1 month')", "months"},
		{"VALUES (1)", "VALUES is not supported"},
		{"UPDATE impulse SET counter = 1", "UPDATE statements are not supported"},
		{"SELECT counter FROM impulse WINDOW w AS (PARTITION BY counter)", "WINDOW clauses are not supported"},
	}
	for _, c := range cases {
		_, err := Plan(ddl+c.q, Options{})
		var pe *Error
		if !errors.As(err, &pe) || len(pe.Diagnostics) == 0 || !strings.Contains(pe.Diagnostics[0].Message, c.want) {
			t.Errorf("%s:\n got %v\nwant %q", c.q, err, c.want)
		}
	}
}
