package sql

import (
	"context"
	"encoding/json"
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

// runChangelog runs a query into the preview sink and returns its rows as
// they came, each rendered "k=v ..." in key order with the _retract flag
// left out and put first as "+" or "-".
func runChangelog(t *testing.T, q string, par int) []string {
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
	var log []string
	for _, r := range out.rows(t) {
		sign := "+"
		flag, ok := r[engine.RetractField].(bool)
		if !ok {
			t.Fatalf("row %v has no %s flag", r, engine.RetractField)
		}
		if flag {
			sign = "-"
		}
		delete(r, engine.RetractField)
		log = append(log, sign+render(r))
	}
	return log
}

func render(r map[string]any) string {
	keys := make([]string, 0, len(r))
	for k := range r {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s=%v", k, r[k])
	}
	return strings.Join(parts, " ")
}

// fold applies a changelog: a retraction removes one equal live row, which
// must exist. The result is sorted.
func fold(t *testing.T, log []string) []string {
	t.Helper()
	live := map[string]int{}
	for _, e := range log {
		if e[0] == '-' {
			if live[e[1:]] == 0 {
				t.Fatalf("retraction of a row that is not there: %s\nlog: %v", e, log)
			}
			live[e[1:]]--
			continue
		}
		live[e[1:]]++
	}
	var out []string
	for r, n := range live {
		for ; n > 0; n-- {
			out = append(out, r)
		}
	}
	sort.Strings(out)
	return out
}

func TestUpdatingAggregates(t *testing.T) {
	path := events(t, windowRows)
	perKey := `SELECT k, count(*) AS n FROM ev GROUP BY k`
	cases := []struct {
		name, q string
		want    []string
	}{
		{"every aggregate", `SELECT k, count(*) AS n, count(v) AS c, sum(v) AS s, avg(v) AS a, min(v) AS lo, max(v) AS hi, count(DISTINCT v % 2) AS d FROM ev GROUP BY k`, []string{
			"a=3.5 c=2 d=2 hi=5 k=b lo=2 n=2 s=7",
			"a=4.2 c=5 d=2 hi=7 k=a lo=1 n=5 s=21",
		}},
		{"no keys", `SELECT count(*) AS n, max(ts) AS last FROM ev`, []string{"last=2024-01-01T00:00:30Z n=7"}},
		{"having", `SELECT k, count(*) AS n FROM ev GROUP BY k HAVING count(*) > 2`, []string{"k=a n=5"}},
		{"filter and project over an updating subquery", `SELECT k, n * 10 AS n10 FROM (` + perKey + `) WHERE n > 1`, []string{"k=a n10=50", "k=b n10=20"}},
		{"star over an updating subquery", `SELECT * FROM (` + perKey + `)`, []string{"k=a n=5", "k=b n=2"}},
		{"aggregate of an aggregate", `SELECT n, count(*) AS keys, sum(n) AS s, avg(n) AS a FROM (` + perKey + `) GROUP BY n`, []string{
			"a=2 keys=1 n=2 s=2",
			"a=5 keys=1 n=5 s=5",
		}},
		{"min, max and count(DISTINCT) of an aggregate", `SELECT min(n) AS lo, max(n) AS hi, count(DISTINCT n) AS d, min(k) AS first FROM (` + perKey + `)`, []string{
			"d=2 first=a hi=5 lo=2",
		}},
	}
	for _, c := range cases {
		for _, par := range []int{1, 2} {
			t.Run(fmt.Sprintf("%s/par%d", c.name, par), func(t *testing.T) {
				got := fold(t, runChangelog(t, ddl(path)+c.q, par))
				if strings.Join(got, "\n") != strings.Join(c.want, "\n") {
					t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(c.want, "\n"))
				}
			})
		}
	}
}

// Changes are coalesced per input batch: the file is read as one batch,
// so each key of the inner aggregate changes once (a=5, b=2, never a=1..4)
// and the outer sees two appends only.
func TestUpdatingChangelogCoalesces(t *testing.T) {
	path := events(t, windowRows)
	log := runChangelog(t, ddl(path)+`SELECT n, count(*) AS keys FROM (SELECT k, count(*) AS n FROM ev GROUP BY k) GROUP BY n`, 1)
	if got, want := strings.Join(log, "|"), "+keys=1 n=5|+keys=1 n=2"; got != want {
		t.Fatalf("got %s, want %s", got, want)
	}
}

// Appends and retractions across batches, with groups that empty: rows
// arrive in two files read one after the other.
func TestUpdatingChangelogAcrossBatches(t *testing.T) {
	dir := t.TempDir()
	for i, rows := range []string{
		`{"k":"a","v":1}` + "\n" + `{"k":"b","v":2}` + "\n",
		`{"k":"a","v":3}` + "\n",
	} {
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("%d.jsonl", i)), []byte(rows), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	q := fmt.Sprintf(`CREATE TABLE ev (k TEXT, v BIGINT) WITH (connector = 'filesystem', path = '%s', format = 'json');
SELECT n, count(*) AS keys FROM (SELECT k, count(*) AS n FROM ev GROUP BY k) GROUP BY n`, dir)
	log := runChangelog(t, q, 1)
	// After file 0: a=1, b=1 -> n=1 has 2 keys. After file 1: a=2 -> n=1
	// has 1 key, n=2 has 1.
	want := []string{"+keys=2 n=1", "-keys=2 n=1", "+keys=1 n=1", "+keys=1 n=2"}
	if strings.Join(log, "|") != strings.Join(want, "|") {
		t.Fatalf("got %v, want %v", log, want)
	}
}

func TestUpdatingDiagnostics(t *testing.T) {
	path := events(t, windowRows)
	perKey := `(SELECT k, count(*) AS n FROM ev GROUP BY k)`
	out := filepath.Join(t.TempDir(), "out")
	cases := []struct{ q, want string }{
		{`SELECT count(*) FROM ` + perKey + ` AS u GROUP BY tumble(interval '1 second')`, "window aggregates over an updating input (the result of an aggregate without a window) are not supported"},
		{`SELECT * FROM ` + perKey + ` AS u JOIN ev ON u.k = ev.k`, "a join over an updating input (the result of an aggregate without a window) is not supported"},
		{`SELECT * FROM ev JOIN ` + perKey + ` AS u ON u.k = ev.k`, "a join over an updating input"},
		{`SELECT k, _retract FROM ` + perKey + ` AS u`, "'_retract' is reserved"},
		{`SELECT k, ROW_NUMBER() OVER (PARTITION BY k ORDER BY n) AS r FROM ` + perKey + ` AS u`, "ROW_NUMBER() over an updating input"},
		{fmt.Sprintf(`CREATE TABLE out WITH (connector = 'filesystem', path = '%s', format = 'json');
INSERT INTO out SELECT k, count(*) AS n FROM ev GROUP BY k`, out), "table 'out' (connector 'filesystem') can only append rows; write it with a changelog format such as format = 'debezium_json'"},
		{`CREATE TABLE out WITH (connector = 'stdout');
INSERT INTO out SELECT k, count(*) AS n FROM ev GROUP BY k`, "table 'out' (connector 'stdout') can only append rows"},
	}
	for _, c := range cases {
		_, err := Plan(ddl(path)+c.q, Options{})
		var pe *Error
		if !errors.As(err, &pe) || !strings.Contains(pe.Diagnostics[0].Message, c.want) {
			t.Errorf("%s:\n got %v\nwant %q", c.q, err, c.want)
		}
	}
}

// An updating aggregate is its own node, fed by a shuffle on its keys.
func TestUpdatingPlanShape(t *testing.T) {
	path := events(t, windowRows)
	p, err := Plan(ddl(path)+`SELECT k, count(*) AS n FROM ev GROUP BY k`, Options{Parallelism: 2})
	if err != nil {
		t.Fatal(err)
	}
	var agg *engine.Node
	for _, n := range p.Nodes {
		if n.Chain[0].Name == "updating aggregate" {
			agg = n
		}
	}
	if agg == nil {
		t.Fatalf("no updating aggregate node in %+v", p.View())
	}
	if !engine.IsUpdating(agg.Chain[len(agg.Chain)-1].Schema) {
		t.Errorf("the aggregate's chain does not end in a changelog: %s", agg.Chain[len(agg.Chain)-1].Schema)
	}
	for _, e := range p.Edges {
		if e.Dest == agg.ID && (e.Type != engine.Shuffle || len(e.Key) != 1) {
			t.Errorf("edge into the aggregate: %+v, want a shuffle on one key", e)
		}
	}
}

// A debezium_json filesystem sink writes {before, after, op} lines whose
// fold is the final table.
func TestUpdatingDebeziumSink(t *testing.T) {
	path := events(t, windowRows)
	out := filepath.Join(t.TempDir(), "out")
	q := ddl(path) + fmt.Sprintf(`CREATE TABLE out WITH (connector = 'filesystem', path = '%s', format = 'debezium_json');
INSERT INTO out SELECT n, count(*) AS keys FROM (SELECT k, count(*) AS n FROM ev GROUP BY k) GROUP BY n`, out)
	p, err := Plan(q, Options{Parallelism: 2})
	if err != nil {
		t.Fatal(err)
	}
	x, err := engine.NewRunner().Start(context.Background(), p, engine.RunOptions{})
	if err != nil {
		t.Fatal(err)
	}
	<-x.Done()
	if err := x.Err(); err != nil {
		t.Fatal(err)
	}
	files, err := filepath.Glob(filepath.Join(out, "*.jsonl"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no output files: %v", err)
	}
	var log []string
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
			var c struct {
				Before map[string]any `json:"before"`
				After  map[string]any `json:"after"`
				Op     string         `json:"op"`
			}
			if err := json.Unmarshal([]byte(line), &c); err != nil {
				t.Fatalf("line %q: %v", line, err)
			}
			switch {
			case c.Op == "c" && c.Before == nil && c.After != nil:
				log = append(log, "+"+render(c.After))
			case c.Op == "u" && c.Before != nil && c.After != nil:
				log = append(log, "-"+render(c.Before), "+"+render(c.After))
			case c.Op == "d" && c.Before != nil && c.After == nil:
				log = append(log, "-"+render(c.Before))
			default:
				t.Fatalf("malformed change %q", line)
			}
		}
	}
	if got, want := strings.Join(fold(t, log), "|"), "keys=1 n=2|keys=1 n=5"; got != want {
		t.Fatalf("got %s, want %s", got, want)
	}
}

// A sink with declared columns takes an updating query's columns; the
// changelog flag travels beside them.
func TestUpdatingIntoDeclaredColumns(t *testing.T) {
	path := events(t, windowRows)
	out := filepath.Join(t.TempDir(), "out")
	p, err := Plan(ddl(path)+fmt.Sprintf(`CREATE TABLE out (k TEXT, n BIGINT) WITH (connector = 'filesystem', path = '%s', format = 'debezium_json');
INSERT INTO out SELECT k, count(*) FROM ev GROUP BY k`, out), Options{})
	if err != nil {
		t.Fatal(err)
	}
	sink := p.Nodes[len(p.Nodes)-1].Chain
	schema := sink[len(sink)-1].Schema
	if got := schema.String(); !engine.IsUpdating(schema) || schema.NumFields() != 4 || schema.Field(0).Name != "k" || schema.Field(1).Name != "n" {
		t.Fatalf("sink schema %s", got)
	}
}
