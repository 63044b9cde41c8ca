package sql

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/runnel-dev/runnel/internal/engine"
)

// events writes a JSON-lines file of (k, v, ts) rows, ts in seconds past
// 2024-01-01T00:00:00Z.
func events(t *testing.T, rows [][3]any) string {
	t.Helper()
	var sb strings.Builder
	base := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, r := range rows {
		ts := base.Add(time.Duration(r[2].(int)) * time.Second).Format(time.RFC3339)
		fmt.Fprintf(&sb, `{"k":%q,"v":%d,"ts":%q}`+"\n", r[0], r[1], ts)
	}
	p := filepath.Join(t.TempDir(), "in.jsonl")
	if err := os.WriteFile(p, []byte(sb.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func runQuery(t *testing.T, q string, par int) []string {
	t.Helper()
	p, err := Plan(q, Options{Parallelism: par})
	if err != nil {
		t.Fatal(err)
	}
	out := &memOut{}
	x, err := engine.NewRunner().Start(context.Background(), p, engine.RunOptions{Output: out})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-x.Done():
	case <-time.After(20 * time.Second):
		t.Fatal("timeout")
	}
	if err := x.Err(); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range out.rows(t) {
		keys := make([]string, 0, len(r))
		for k := range r {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		var sb strings.Builder
		for _, k := range keys {
			fmt.Fprintf(&sb, "%s=%v ", k, r[k])
		}
		got = append(got, strings.TrimSpace(sb.String()))
	}
	sort.Strings(got)
	return got
}

var windowRows = [][3]any{
	{"a", 1, 0}, {"b", 2, 1}, {"a", 3, 4}, {"a", 4, 5}, {"b", 5, 9}, {"a", 6, 12}, {"a", 7, 30},
}

func ddl(path string) string {
	return fmt.Sprintf(`CREATE TABLE ev (k TEXT, v BIGINT, ts TIMESTAMP, WATERMARK FOR ts AS ts - INTERVAL '2 seconds') WITH (connector = 'filesystem', path = '%s', format = 'json');
`, path)
}

func TestWindows(t *testing.T) {
	path := events(t, windowRows)
	cases := []struct {
		name, q string
		par     int
		want    []string
	}{
		{"tumble", `SELECT k, tumble(interval '5 seconds') AS window, count(*) AS n, sum(v) AS s, min(v) AS lo, max(v) AS hi, avg(v) AS a
FROM ev GROUP BY k, window`, 2, []string{
			"a=2 hi=2 k=b lo=2 n=1 s=2 window=map[end:2024-01-01T00:00:05Z start:2024-01-01T00:00:00Z]",
			"a=2 hi=3 k=a lo=1 n=2 s=4 window=map[end:2024-01-01T00:00:05Z start:2024-01-01T00:00:00Z]",
			"a=4 hi=4 k=a lo=4 n=1 s=4 window=map[end:2024-01-01T00:00:10Z start:2024-01-01T00:00:05Z]",
			"a=5 hi=5 k=b lo=5 n=1 s=5 window=map[end:2024-01-01T00:00:10Z start:2024-01-01T00:00:05Z]",
			"a=6 hi=6 k=a lo=6 n=1 s=6 window=map[end:2024-01-01T00:00:15Z start:2024-01-01T00:00:10Z]",
			"a=7 hi=7 k=a lo=7 n=1 s=7 window=map[end:2024-01-01T00:00:35Z start:2024-01-01T00:00:30Z]",
		}},
		{"tumble no key, window.start", `SELECT tumble(interval '10 seconds') AS window, window.start AS ws, count(*) AS n, count(DISTINCT k) AS dk
FROM ev GROUP BY tumble(interval '10 seconds')`, 1, []string{
			"dk=1 n=1 window=map[end:2024-01-01T00:00:20Z start:2024-01-01T00:00:10Z] ws=2024-01-01T00:00:10Z",
			"dk=1 n=1 window=map[end:2024-01-01T00:00:40Z start:2024-01-01T00:00:30Z] ws=2024-01-01T00:00:30Z",
			"dk=2 n=5 window=map[end:2024-01-01T00:00:10Z start:2024-01-01T00:00:00Z] ws=2024-01-01T00:00:00Z",
		}},
		{"hop", `SELECT hop(interval '5 seconds', interval '10 seconds') AS w, count(*) AS n, sum(v) AS s FROM ev GROUP BY w`, 2, []string{
			"n=1 s=6 w=map[end:2024-01-01T00:00:20Z start:2024-01-01T00:00:10Z]",
			"n=1 s=7 w=map[end:2024-01-01T00:00:35Z start:2024-01-01T00:00:25Z]",
			"n=1 s=7 w=map[end:2024-01-01T00:00:40Z start:2024-01-01T00:00:30Z]",
			"n=3 s=15 w=map[end:2024-01-01T00:00:15Z start:2024-01-01T00:00:05Z]",
			"n=3 s=6 w=map[end:2024-01-01T00:00:05Z start:2023-12-31T23:59:55Z]",
			"n=5 s=15 w=map[end:2024-01-01T00:00:10Z start:2024-01-01T00:00:00Z]",
		}},
		{"top-n per window", `SELECT k, n, row_num FROM (
  SELECT k, window, n, ROW_NUMBER() OVER (PARTITION BY window ORDER BY n DESC, k) AS row_num
  FROM (SELECT k, tumble(interval '10 seconds') AS window, count(*) AS n FROM ev GROUP BY k, window) AS c
) AS r WHERE row_num <= 1`, 2, []string{
			"k=a n=1 row_num=1",
			"k=a n=1 row_num=1",
			"k=a n=3 row_num=1",
		}},
		{"max per window", `SELECT window.end AS e, max(n) AS top FROM (
  SELECT k, hop(interval '5 seconds', interval '10 seconds') AS window, count(*) AS n FROM ev GROUP BY k, window) AS c
GROUP BY window`, 2, []string{
			"e=2024-01-01T00:00:05Z top=2",
			"e=2024-01-01T00:00:10Z top=3",
			"e=2024-01-01T00:00:15Z top=2",
			"e=2024-01-01T00:00:20Z top=1",
			"e=2024-01-01T00:00:35Z top=1",
			"e=2024-01-01T00:00:40Z top=1",
		}},
		{"group by position, no aggregates", `SELECT k, tumble(interval '10 seconds') AS w FROM ev GROUP BY 1, 2`, 1, []string{
			"k=a w=map[end:2024-01-01T00:00:10Z start:2024-01-01T00:00:00Z]",
			"k=a w=map[end:2024-01-01T00:00:20Z start:2024-01-01T00:00:10Z]",
			"k=a w=map[end:2024-01-01T00:00:40Z start:2024-01-01T00:00:30Z]",
			"k=b w=map[end:2024-01-01T00:00:10Z start:2024-01-01T00:00:00Z]",
		}},
		{"window join", `SELECT C.k AS k, C.n AS n, M.top AS top, C.w.start AS ws FROM
  (SELECT k, tumble(interval '10 seconds') AS w, count(*) AS n FROM ev GROUP BY 1, 2) AS C
JOIN
  (SELECT tumble(interval '10 seconds') AS w, max(v) AS top FROM ev GROUP BY 1) AS M
ON C.w = M.w AND C.n > 1`, 2, []string{
			"k=a n=3 top=5 ws=2024-01-01T00:00:00Z",
			"k=b n=2 top=5 ws=2024-01-01T00:00:00Z",
		}},
		{"join with ttl", `SELECT a.k AS k, a.v AS av, b.v AS bv FROM ev AS a JOIN ev AS b ON a.k = b.k WHERE a.v < b.v AND b.k = 'b'`, 2, []string{"av=2 bv=5 k=b"}},
		{"session having", `SELECT k, session(interval '4 seconds') AS w, count(*) AS n, sum(v) AS s FROM ev WHERE v > 0 GROUP BY k, w HAVING count(*) > 1`, 2, []string{
			"k=a n=3 s=8 w=map[end:2024-01-01T00:00:09Z start:2024-01-01T00:00:00Z]",
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := runQuery(t, ddl(path)+c.q, c.par)
			if strings.Join(got, "\n") != strings.Join(c.want, "\n") {
				t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(c.want, "\n"))
			}
		})
	}
}

func TestAggregateDiagnostics(t *testing.T) {
	path := events(t, windowRows)
	cases := []struct{ q, want string }{
		{`SELECT sum(n) FROM (SELECT k, count(*) AS n FROM ev GROUP BY k) AS u GROUP BY tumble(interval '1 second')`, "window aggregates over an updating input"},
		{`SELECT v, count(*) FROM ev GROUP BY tumble(interval '1 second')`, "column 'v' must appear in GROUP BY"},
		{`SELECT stddev(v) FROM ev GROUP BY tumble(interval '1 second')`, "aggregate function 'stddev' is not supported"},
		{`SELECT sum(k) FROM ev GROUP BY tumble(interval '1 second')`, "sum needs a number"},
		{`SELECT count(*) FROM ev GROUP BY hop(interval '3 seconds', interval '10 seconds')`, "multiple of the slide"},
		{`SELECT count(*) FROM ev GROUP BY tumble(interval '1 second'), session(interval '1 second')`, "only one window"},
		{`SELECT count(*) FROM ev GROUP BY tumble(interval '1 month')`, "months"},
		{`SELECT sum(DISTINCT v) FROM ev GROUP BY tumble(interval '1 second')`, "only count(DISTINCT"},
		{`SELECT * FROM ev GROUP BY tumble(interval '1 second')`, "SELECT * cannot be used with GROUP BY"},
		{`SELECT count(*) FROM ev GROUP BY 2`, "position 2 is not in the select list"},
		{`SELECT count(*) AS n, tumble(interval '1 second') AS w FROM ev GROUP BY 1`, "refers to an aggregate"},
	}
	for _, c := range cases {
		_, err := Plan(ddl(path)+c.q, Options{})
		var pe *Error
		if !errors.As(err, &pe) || !strings.Contains(pe.Diagnostics[0].Message, c.want) {
			t.Errorf("%s: got %v, want %q", c.q, err, c.want)
		}
	}
	_, err := Plan(`CREATE TABLE e (ts TEXT, WATERMARK FOR ts AS ts - INTERVAL '1 second') WITH (connector = 'filesystem', path = '/x', format = 'json'); SELECT * FROM e`, Options{})
	if err == nil || !strings.Contains(err.Error(), "must be a TIMESTAMP") {
		t.Errorf("watermark on text: %v", err)
	}
}

// Rows behind the watermark are dropped and counted: the source emits
// 4096 rows per batch, so the rows of the second batch that fall before
// the first batch's watermark are late.
func TestLateRowsDroppedAndCounted(t *testing.T) {
	var rows [][3]any
	for i := 0; i < 4096; i++ {
		rows = append(rows, [3]any{"a", 1, i / 40}) // 0 .. 102 s
	}
	for i := 0; i < 10; i++ {
		rows = append(rows, [3]any{"a", 1, 1}) // late
	}
	rows = append(rows, [3]any{"a", 1, 200})
	path := events(t, rows)
	q := fmt.Sprintf(`CREATE TABLE ev (k TEXT, v BIGINT, ts TIMESTAMP, WATERMARK FOR ts AS ts) WITH (connector = 'filesystem', path = '%s', format = 'json');
SELECT tumble(interval '10 seconds') AS window, count(*) AS n FROM ev GROUP BY window HAVING window.start < TIMESTAMP '2024-01-01 00:00:10'`, path)
	p, err := Plan(q, Options{Parallelism: 1})
	if err != nil {
		t.Fatal(err)
	}
	out := &memOut{}
	x, err := engine.NewRunner().Start(context.Background(), p, engine.RunOptions{Output: out})
	if err != nil {
		t.Fatal(err)
	}
	<-x.Done()
	if err := x.Err(); err != nil {
		t.Fatal(err)
	}
	got := out.rows(t)
	if len(got) != 1 || got[0]["n"] != float64(400) {
		t.Fatalf("got %v, want one window of 400 rows", got)
	}
	var late int64
	for _, n := range engine.LateRows(x) {
		late += n
	}
	if late != 10 {
		t.Fatalf("late rows %d, want 10", late)
	}
	// The same count reaches the per-subtask metrics.
	var counted int64
	for _, c := range x.Metrics() {
		counted += c.LateRows
	}
	if counted != late {
		t.Fatalf("metrics count %d late rows, want %d", counted, late)
	}
}
