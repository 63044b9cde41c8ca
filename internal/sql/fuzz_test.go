package sql

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/runnel-dev/runnel/internal/engine"
)

var junk = []string{
	"", ";", "\x00", "'", "\"", "/*", "--", "$$", "SELECT", "SELECT *", "SELECT * FROM", "CREATE", "CREATE TABLE",
	"CREATE TABLE t", "CREATE TABLE t WITH", "CREATE TABLE t WITH (", "CREATE TABLE t WITH ()", "CREATE TABLE WITH (connector = 'impulse')",
	"CREATE TABLE t WITH (connector)", "CREATE TABLE t WITH (connector = )", "CREATE TABLE t WITH (connector = 1 + 2)",
	"CREATE TABLE t WITH (connector = 'impulse', connector = 'impulse')", "INSERT INTO", "INSERT INTO x VALUES (1)",
	"INSERT INTO x DEFAULT VALUES", "CREATE TABLE a.b.c.d WITH (connector = 'impulse')", "SELECT 1", "SELECT $1 FROM t",
	"SELECT * FROM (SELECT 1) AS s", "VALUES (1)", "WITH x AS (SELECT 1) SELECT * FROM x", "EXPLAIN SELECT 1",
	"SELECT 1; SELECT 2; SELECT", "CREATE TABLE t WITH (connector = 'impulse'); SELECT t.* FROM t; SELECT u.* FROM t",
	"CREATE TABLE t WITH (connector = 'impulse'); SELECT counter::geography FROM t",
	"CREATE TABLE t WITH (connector = 'impulse'); SELECT ARRAY[1] FROM t", "CREATE TABLE t WITH (connector = 'impulse'); SELECT (1, 2) FROM t",
	"CREATE TABLE t WITH (connector = 'impulse'); SELECT counter FROM t WHERE counter LIKE 'x'",
	"CREATE TABLE t WITH (connector = 'impulse'); SELECT 99999999999999999999999 FROM t",
	"CREATE TABLE t WITH (connector = 'impulse'); SELECT round(counter, counter) FROM t",
	"CREATE TABLE t WITH (connector = 'impulse'); SELECT counter FROM t, t AS u",
	"CREATE TABLE t (a INT DEFAULT 1) WITH (connector = 'blackhole')", "CREATE TABLE t (a INT, a INT) WITH (connector = 'blackhole')",
	"CREATE TABLE t (a INT, PRIMARY KEY (a)) WITH (connector = 'blackhole')", "CREATE TABLE t AS SELECT 1",
	"SELECT 'é' FROM t\u2028", "\xff\xfe", "SELECT '\xff' FROM t", strings.Repeat("(", 500), strings.Repeat("SELECT 1;", 50),
}

// Junk must give diagnostics, never a panic or a diagnostic outside the text.
func TestPlanJunk(t *testing.T) {
	for _, q := range junk {
		checkPlan(t, q)
	}
}

func FuzzPlan(f *testing.F) {
	for _, q := range junk {
		f.Add(q)
	}
	f.Add(impulseDDL + sinkDDL + `INSERT INTO sink SELECT counter, CASE WHEN counter % 2 = 0 THEN 'even' END FROM impulse`)
	f.Fuzz(func(t *testing.T, q string) {
		checkPlan(t, q)
	})
}

func checkPlan(t *testing.T, q string) {
	t.Helper()
	defer func() {
		if r := recover(); r != nil {
			t.Fatalf("Plan(%q) panicked: %v", q, r)
		}
	}()
	p, err := Plan(q, Options{Preview: len(q)%2 == 0, EnableSinks: len(q)%3 == 0})
	if err == nil {
		if p == nil || len(p.Nodes) == 0 {
			t.Fatalf("Plan(%q) gave no program and no error", q)
		}
		return
	}
	var pe *Error
	if !errors.As(err, &pe) {
		t.Fatalf("Plan(%q) = %v, want *Error", q, err)
	}
	lines := strings.Count(q, "\n") + 1
	for _, d := range pe.Diagnostics {
		if d.Message == "" {
			t.Errorf("Plan(%q): empty message", q)
		}
		if d.Span == nil {
			continue
		}
		for _, pos := range []Position{d.Span.Start, d.Span.End} {
			if pos.Line < 1 || pos.Line > lines || pos.Column < 1 {
				t.Errorf("Plan(%q): %q at %+v is outside the text", q, d.Message, *d.Span)
			}
		}
	}
}

// Every query the planner accepts must also run: the planner's types must
// be the ones the kernels produce.
func TestAcceptedQueriesRun(t *testing.T) {
	ddl := "CREATE TABLE impulse WITH (connector = 'impulse', message_count = '50');\n"
	for _, q := range []string{
		ddl + `SELECT counter, -counter AS neg, counter * 2 + 1 AS odd, counter / 2 AS half, counter % 7 AS m,
			CAST(counter AS DOUBLE) / 3 AS third, counter::text AS t, CAST('12' AS INT) AS twelve, CAST(counter AS BOOLEAN) AS b,
			abs(counter - 50) AS dist, round(counter / 3.0, 2) AS r, lower('AB') AS lo, upper('ab') AS up, length('héllo') AS len,
			concat('a', counter, NULL) AS cc, 'x' || 'y' AS cat, coalesce(NULL, counter) AS co,
			CASE counter WHEN 1 THEN 'one' WHEN 2 THEN 'two' END AS name, CASE WHEN counter IS NULL THEN NULL ELSE 1.5 END AS cn,
			counter IS NOT NULL AS nn, NOT (counter > 3 OR counter < 1) AND true AS logic, counter BETWEEN 1 AND 5 AS btw,
			counter IN (1, 2, 3) AS inl, timestamp > '2020-01-01T00:00:00Z' AS recent,
			CAST('2024-01-01 00:00:00' AS TIMESTAMP) AS ts, NULL AS nothing, 1e3 AS sci, CAST(counter AS INT4) + 1 AS small,
			counter + 0.5 AS widened, NULL + 1 AS nullsum
			FROM impulse WHERE counter >= 0 AND counter IS NOT NULL`,
		ddl + `SELECT * FROM impulse WHERE NULL`,
		ddl + `SELECT * FROM impulse WHERE true`,
	} {
		p, err := Plan(q, Options{Parallelism: 2})
		if err != nil {
			t.Fatalf("Plan: %v", err)
		}
		x, err := engine.NewRunner().Start(context.Background(), p, engine.RunOptions{})
		if err != nil {
			t.Fatal(err)
		}
		select {
		case <-x.Done():
		case <-time.After(10 * time.Second):
			t.Fatal("timeout")
		}
		if err := x.Err(); err != nil {
			t.Errorf("run of %q: %v", q[len(ddl):], err)
		}
	}
}
