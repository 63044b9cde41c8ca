package sql

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/runnel-dev/runnel/internal/engine"
)

const impulseDDL = `CREATE TABLE impulse WITH (connector = 'impulse', event_rate = '10', message_count = '100');
`

const sinkDDL = `CREATE TABLE sink (counter BIGINT, label TEXT) WITH (connector = 'blackhole');
`

type nodeShape struct {
	operator   string
	opID       string // first operator's id
	par        int
	descSubstr string
}

func TestPlanGraphShapes(t *testing.T) {
	insert := impulseDDL + sinkDDL + `INSERT INTO sink SELECT counter, CAST(subtask_index AS TEXT) FROM impulse WHERE counter % 3 = 0`
	tests := []struct {
		name  string
		query string
		opts  Options
		nodes []nodeShape
		edges []engine.EdgeView
	}{
		{
			name:  "insert fuses the whole chain",
			query: insert,
			nodes: []nodeShape{{"impulse source -> filter -> project -> blackhole sink", "source_impulse_0", 1, "WHERE ((counter % 3) = 0)"}},
		},
		{
			name:  "parallelism applies to every node",
			query: insert,
			opts:  Options{Parallelism: 4},
			nodes: []nodeShape{{"impulse source -> filter -> project -> blackhole sink", "source_impulse_0", 4, "impulse (10 events/s, 100 messages)"}},
		},
		{
			name:  "select star into an untyped sink needs no projection",
			query: impulseDDL + `CREATE TABLE bh WITH (connector = 'blackhole'); INSERT INTO bh SELECT * FROM impulse`,
			nodes: []nodeShape{{"impulse source -> blackhole sink", "source_impulse_0", 1, "blackhole"}},
		},
		{
			name:  "bare select goes to the preview sink",
			query: impulseDDL + `SELECT counter AS c FROM impulse`,
			nodes: []nodeShape{{"impulse source -> project -> preview sink", "source_impulse_0", 1, "Preview sink"}},
		},
		{
			name:  "preview replaces sinks",
			query: insert,
			opts:  Options{Preview: true, Parallelism: 2},
			nodes: []nodeShape{{"impulse source -> filter -> project -> preview sink", "source_impulse_0", 2, "Preview sink"}},
		},
		{
			name:  "preview with sinks adds a preview sink beside each",
			query: insert,
			opts:  Options{Preview: true, EnableSinks: true, Parallelism: 2},
			nodes: []nodeShape{
				{"impulse source -> filter -> project", "source_impulse_0", 2, "SELECT counter, CAST(subtask_index AS TEXT) AS label"},
				{"blackhole sink", "sink_blackhole_2", 2, "blackhole"},
				{"preview sink", "sink_blackhole_2_1", 1, "Preview sink"},
			},
			edges: []engine.EdgeView{
				{SrcID: 1, DestID: 2, EdgeType: "Forward"},
				{SrcID: 1, DestID: 3, EdgeType: "Shuffle"},
			},
		},
		{
			name:  "preview with sinks leaves a preview query alone",
			query: impulseDDL + `SELECT counter FROM impulse`,
			opts:  Options{Preview: true, EnableSinks: true},
			nodes: []nodeShape{{"impulse source -> project -> preview sink", "source_impulse_0", 1, ""}},
		},
		{
			name: "two inserts make two pipelines; preview sinks come last",
			query: impulseDDL + sinkDDL + `CREATE TABLE bh WITH (connector = 'blackhole');
INSERT INTO sink SELECT counter, 'a' FROM impulse;
INSERT INTO bh SELECT counter + 1 AS next FROM impulse AS i WHERE i.counter > 5`,
			opts: Options{Preview: true, EnableSinks: true},
			nodes: []nodeShape{
				{"impulse source -> project", "source_impulse_0", 1, ""},
				{"blackhole sink", "sink_blackhole_2", 1, ""},
				{"impulse source -> filter -> project", "source_impulse_3", 1, "WHERE (counter > 5)"},
				{"blackhole sink", "sink_blackhole_5", 1, ""},
				{"preview sink", "sink_blackhole_2_1", 1, ""},
				{"preview sink", "sink_blackhole_5_1", 1, ""},
			},
			edges: []engine.EdgeView{
				{SrcID: 1, DestID: 2, EdgeType: "Forward"},
				{SrcID: 3, DestID: 4, EdgeType: "Forward"},
				{SrcID: 1, DestID: 5, EdgeType: "Forward"},
				{SrcID: 3, DestID: 6, EdgeType: "Forward"},
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := Plan(tc.query, tc.opts)
			if err != nil {
				t.Fatalf("Plan: %v", err)
			}
			v := p.View()
			if len(v.Nodes) != len(tc.nodes) {
				t.Fatalf("got %d nodes, want %d: %+v", len(v.Nodes), len(tc.nodes), v.Nodes)
			}
			for i, want := range tc.nodes {
				got := v.Nodes[i]
				if got.NodeID != i+1 || got.Operator != want.operator || got.Parallelism != want.par ||
					p.Nodes[i].OperatorID() != want.opID || !strings.Contains(got.Description, want.descSubstr) {
					t.Errorf("node %d = %+v (op id %s), want %+v", i, got, p.Nodes[i].OperatorID(), want)
				}
			}
			if len(v.Edges) != len(tc.edges) {
				t.Fatalf("got edges %+v, want %+v", v.Edges, tc.edges)
			}
			for i, want := range tc.edges {
				got := v.Edges[i]
				if got.SrcID != want.SrcID || got.DestID != want.DestID || got.EdgeType != want.EdgeType {
					t.Errorf("edge %d = %+v, want %+v", i, got, want)
				}
			}
			if wantPreview := tc.opts.Preview || strings.Contains(tc.name, "bare"); p.HasPreviewSink() != wantPreview {
				t.Errorf("HasPreviewSink = %v", p.HasPreviewSink())
			}
		})
	}
}

// at is the 1-based position of the first occurrence of sub in q.
func at(q, sub string) Position {
	i := strings.Index(q, sub)
	if i < 0 {
		panic("no " + sub + " in " + q)
	}
	before := q[:i]
	ls := strings.LastIndexByte(before, '\n') + 1
	return Position{Line: strings.Count(before, "\n") + 1, Column: utf8.RuneCountInString(before[ls:]) + 1}
}

func TestPlanDiagnostics(t *testing.T) {
	tests := []struct {
		name  string
		query string
		msg   string // substring of the message
		at    string // the diagnostic starts at this text's first occurrence; "" for no span
		pos   *Position
	}{
		{name: "syntax error line 3", query: "SELECT a,\n  b +\n FROM t", msg: "syntax error", pos: &Position{3, 2}},
		{name: "lexical error", query: impulseDDL + "SELECT 'abc FROM impulse", msg: "unterminated string", at: "'abc"},
		{name: "syntax error in the second statement", query: impulseDDL + "SELECT counter FROM impulse WHERE", msg: "syntax error", pos: &Position{2, 34}},
		{name: "empty query", query: " ;; -- nothing\n", msg: "does not contain a query"},
		{name: "no sink", query: impulseDDL, msg: "nothing to run"},
		{name: "unknown table", query: impulseDDL + "SELECT counter FROM nope", msg: "unknown table 'nope'", at: "nope"},
		{name: "unknown column", query: impulseDDL + "SELECT counter,\n  countr FROM impulse", msg: "unknown column 'countr'", at: "countr"},
		{name: "unknown qualifier", query: impulseDDL + "SELECT x.counter FROM impulse", msg: "unknown table or column 'x'", at: "x.counter"},
		{name: "unknown connector", query: "CREATE TABLE t WITH (connector = 'kafkaa');", msg: "unknown connector 'kafkaa'", at: "'kafkaa'"},
		{name: "missing connector", query: "CREATE TABLE t (a BIGINT) WITH (format = 'json'); SELECT a FROM t", msg: "needs a connector", at: "t ("},
		{name: "invalid option value", query: "CREATE TABLE t WITH (connector = 'impulse', event_rate = 'fast'); SELECT * FROM t", msg: "'event_rate' must be a number", at: "event_rate"},
		{name: "negative option", query: "CREATE TABLE t WITH (connector = 'impulse', message_count = '-1'); SELECT * FROM t", msg: "must not be negative", at: "message_count"},
		{name: "unknown option after the inserted column list", query: "CREATE TABLE t WITH (connector = 'impulse', bogus = '1'); SELECT * FROM t", msg: "unknown option 'bogus'", at: "bogus"},
		{name: "impulse with columns", query: "CREATE TABLE t (a BIGINT) WITH (connector = 'impulse'); SELECT * FROM t", msg: "fixed schema", at: "t ("},
		{name: "type mismatch", query: impulseDDL + "SELECT counter + 'a' FROM impulse", msg: "cannot apply operator + to BIGINT and TEXT", at: "counter + 'a'"},
		{name: "compare mismatch", query: impulseDDL + "SELECT counter FROM impulse WHERE counter = true", msg: "cannot compare BIGINT with BOOLEAN", at: "counter = true"},
		{name: "where not boolean", query: impulseDDL + "SELECT counter FROM impulse WHERE counter + 1", msg: "WHERE needs a BOOLEAN", at: "counter + 1"},
		{name: "bad cast", query: impulseDDL + "SELECT CAST(timestamp AS BIGINT) FROM impulse", msg: "cannot cast TIMESTAMP to BIGINT", at: "CAST(timestamp"},
		{name: "case branches", query: impulseDDL + "SELECT CASE WHEN counter > 1 THEN 'a' ELSE 2 END FROM impulse", msg: "CASE mixes TEXT and BIGINT", at: "CASE"},
		{name: "insert into source", query: impulseDDL + "INSERT INTO impulse SELECT * FROM impulse", msg: "is not a sink", at: "impulse SELECT"},
		{name: "select from sink", query: sinkDDL + "SELECT * FROM sink", msg: "is not a source", pos: &Position{2, 15}},
		{name: "duplicate table", query: impulseDDL + impulseDDL + "SELECT * FROM impulse", msg: "already defined", pos: &Position{2, 14}},
		{name: "updating query into an append-only sink", query: impulseDDL + "CREATE TABLE out WITH (connector = 'stdout');\nINSERT INTO out SELECT counter, count(*) AS n FROM impulse GROUP BY counter", msg: "can only append rows", at: "out SELECT"},
		{name: "window over an updating input", query: impulseDDL + "SELECT count(*) FROM (SELECT counter, count(*) AS n FROM impulse GROUP BY counter) AS u\nGROUP BY tumble(interval '1 second')", msg: "window aggregates over an updating input", pos: &Position{3, 1}},
		{name: "join", query: impulseDDL + "SELECT * FROM impulse a LEFT JOIN impulse b ON a.counter = b.counter", msg: "LEFT JOIN is not supported"},
		{name: "unknown function", query: impulseDDL + "SELECT frobnicate(counter) FROM impulse", msg: "unknown function 'frobnicate'", at: "frobnicate"},
		{name: "wrong arity", query: impulseDDL + "SELECT lower() FROM impulse", msg: "takes 1 arguments, got 0", at: "lower"},
		{name: "order by", query: impulseDDL + "SELECT counter FROM impulse ORDER BY counter", msg: "ORDER BY is not supported"},
		{name: "unsupported statement", query: "DROP TABLE x", msg: "DROP TABLE statements are not supported", at: "DROP"},
		{name: "sink column count", query: impulseDDL + sinkDDL + "INSERT INTO sink SELECT counter FROM impulse", msg: "has 2 columns but the query produces 1", at: "sink SELECT"},
		{name: "sink column type", query: impulseDDL + sinkDDL + "INSERT INTO sink SELECT counter, counter + 1 AS x FROM impulse", msg: "column 2 of the query (x) is BIGINT, but sink.label is TEXT", at: "counter + 1"},
		{name: "duplicate output names", query: impulseDDL + "SELECT counter, counter FROM impulse", msg: "two columns named 'counter'"},
		{name: "star elsewhere", query: impulseDDL + "SELECT counter + * FROM impulse", msg: "syntax error"},
		{name: "subquery", query: impulseDDL + "SELECT (SELECT 1) FROM impulse", msg: "subqueries are not supported"},
		{name: "unknown type", query: "CREATE TABLE s (a GEOGRAPHY) WITH (connector = 'blackhole')", msg: "column 'a'", at: "a GEO"},
		{name: "bad type option", query: "CREATE TABLE s WITH (connector = 'blackhole', type = 'source')", msg: "cannot be used as a source", at: "'source'"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Plan(tc.query, Options{})
			var pe *Error
			if !errors.As(err, &pe) {
				t.Fatalf("Plan error = %v, want *Error", err)
			}
			d := pe.Diagnostics[0]
			if !strings.Contains(d.Message, tc.msg) || !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("message %q, want it to contain %q", d.Message, tc.msg)
			}
			want := tc.pos
			if tc.at != "" {
				p := at(tc.query, tc.at)
				want = &p
			}
			if want == nil {
				return
			}
			if d.Span == nil {
				t.Fatalf("no span, want one at %+v", *want)
			}
			if d.Span.Start != *want {
				t.Errorf("span starts at %+v, want %+v (%q)", d.Span.Start, *want, d.Message)
			}
			// Only an error at the end of input has an empty span.
			if d.Span.End.Line < d.Span.Start.Line || (d.Span.End.Line == d.Span.Start.Line && d.Span.End.Column < d.Span.Start.Column) {
				t.Errorf("span %+v ends before it starts", *d.Span)
			}
		})
	}
}

func TestPlanReportsEveryStatement(t *testing.T) {
	q := impulseDDL + "SELECT nope FROM impulse;\nSELECT counter FROM missing;\nSELECT counter FROM impulse"
	_, err := Plan(q, Options{})
	var pe *Error
	if !errors.As(err, &pe) || len(pe.Diagnostics) != 2 {
		t.Fatalf("got %v, want two diagnostics", err)
	}
	if pe.Diagnostics[1].Span.Start.Line != 3 {
		t.Errorf("second diagnostic at %+v", pe.Diagnostics[1].Span)
	}
}

// A broken CREATE TABLE is reported once, not again by every statement
// that uses the table.
func TestPlanNoCascadingErrors(t *testing.T) {
	q := "CREATE TABLE t WITH (connector = 'nope');\nSELECT counter FROM t;\nSELECT x FROM t"
	_, err := Plan(q, Options{})
	var pe *Error
	if !errors.As(err, &pe) || len(pe.Diagnostics) != 1 {
		t.Fatalf("got %v, want one diagnostic", err)
	}
}

func TestPlanAcceptsDialect(t *testing.T) {
	queries := []string{
		// Quoted, qualified and keyword-named tables; IF NOT EXISTS.
		`CREATE TABLE IF NOT EXISTS "My Table" WITH (connector = 'impulse', event_rate = 5); SELECT counter FROM "My Table"`,
		`CREATE TABLE public.source WITH ('connector' = 'impulse'); SELECT source.counter FROM public.source`,
		// Options as numbers; comments; trailing semicolons.
		"-- a comment\nCREATE TABLE t /* inline */ WITH (connector = 'impulse', message_count = 10);\nSELECT * FROM t;;",
		// Expressions of every supported kind.
		impulseDDL + `SELECT counter, -counter AS neg, counter * 2 + 1 AS odd, counter / 2 AS half, counter % 7 AS m,
			CAST(counter AS DOUBLE) / 3 AS third, counter::text AS t, CAST('12' AS INT) AS twelve, CAST(counter AS BOOLEAN) AS b,
			abs(counter - 50) AS dist, round(counter / 3.0, 2) AS r, lower('AB') AS lo, upper('ab') AS up, length('héllo') AS len,
			char_length('x') AS cl, concat('a', counter, NULL) AS cc, 'x' || 'y' AS cat, coalesce(NULL, counter) AS co, ifnull(NULL, 1) AS ifn,
			CASE counter WHEN 1 THEN 'one' WHEN 2 THEN 'two' END AS name, CASE WHEN counter IS NULL THEN NULL ELSE 1.5 END AS cn,
			counter IS NOT NULL AS nn, NOT (counter > 3 OR counter < 1) AND true AS logic, counter BETWEEN 1 AND 5 AS btw,
			counter IN (1, 2, 3) AS inl, counter NOT IN (4) AS notin, timestamp > '2020-01-01T00:00:00Z' AS recent,
			CAST('2024-01-01 00:00:00' AS TIMESTAMP) AS ts, NULL AS nothing, 1e3 AS sci, impulse.subtask_index
			FROM impulse WHERE counter >= 0 AND (subtask_index = 0 OR subtask_index <> 0) AND counter IS NOT NULL`,
	}
	for _, q := range queries {
		if _, err := Plan(q, Options{}); err != nil {
			t.Errorf("Plan(%q): %v", q, err)
		}
	}
}
