package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/runnel-dev/runnel/pkg/client"
)

// A fixed "now" in the local zone so that clock() shows times of day.
var now = time.Date(2026, 12, 4, 15, 30, 0, 0, time.Local)

func micros(t time.Time) client.UnixMicros { return client.UnixMicros(t.UnixMicro()) }

func ptrMicros(t time.Time) *client.UnixMicros { m := micros(t); return &m }

// fixtureCheckpoints is what the API returns for a job with two
// checkpoints, the second in detail: two operators of two subtasks.
func fixtureCheckpoints() ([]client.Checkpoint, []client.OperatorCheckpointGroup) {
	t1 := now.Add(-25 * time.Second)
	t2 := now.Add(-15 * time.Second)
	span := func(ev string, start time.Time, d time.Duration) client.CheckpointEventSpan {
		return client.CheckpointEventSpan{Event: ev, StartTime: micros(start), FinishTime: micros(start.Add(d))}
	}
	cps := []client.Checkpoint{
		{Epoch: 1, Backend: "parquet", CheckpointType: "scheduled", StartTime: micros(t1), FinishTime: ptrMicros(t1.Add(61 * time.Millisecond)),
			Events: []client.CheckpointEventSpan{span("Checkpointing", t1, 61*time.Millisecond)}},
		{Epoch: 2, Backend: "parquet", CheckpointType: "stopping", StartTime: micros(t2), FinishTime: ptrMicros(t2.Add(1250 * time.Millisecond)),
			Events: []client.CheckpointEventSpan{
				span("Checkpointing", t2, 1250*time.Millisecond),
				span("CheckpointingOperators", t2, 1200*time.Millisecond),
				span("WritingMetadata", t2.Add(1200*time.Millisecond), 3*time.Millisecond),
			}},
	}
	sub := func(i int, bytes int64, align, sync, async, commit time.Duration) client.SubtaskCheckpointGroup {
		s := t2
		spans := []client.CheckpointEventSpan{}
		for _, p := range []struct {
			ev string
			d  time.Duration
		}{{"Alignment", align}, {"Sync", sync}, {"Async", async}, {"Committing", commit}} {
			if p.d < 0 {
				continue // not recorded
			}
			spans = append(spans, span(p.ev, s, p.d))
			s = s.Add(p.d)
		}
		return client.SubtaskCheckpointGroup{Index: i, Bytes: bytes, EventSpans: spans}
	}
	ops := []client.OperatorCheckpointGroup{
		{OperatorID: "source_1", Bytes: 1536, Subtasks: []client.SubtaskCheckpointGroup{
			sub(0, 512, 0, 150*time.Microsecond, 2350*time.Microsecond, -1),
			sub(1, 1024, 0, 170*time.Microsecond, 2500*time.Microsecond, -1),
		}},
		{OperatorID: "tumble_window_2", Bytes: 8 << 20, Subtasks: []client.SubtaskCheckpointGroup{
			sub(0, 3<<20, 12*time.Millisecond, 4*time.Millisecond, 480*time.Millisecond, 35*time.Millisecond),
			sub(1, 5<<20, 9*time.Millisecond, 7500*time.Microsecond, 1150*time.Millisecond, 41*time.Millisecond),
		}},
	}
	return cps, ops
}

func TestRenderCheckpoints(t *testing.T) {
	cps, ops := fixtureCheckpoints()
	var b bytes.Buffer
	if err := renderCheckpoints(&b, now, cps); err != nil {
		t.Fatal(err)
	}
	b.WriteString("\n")
	if err := renderCheckpointDetail(&b, now, &cps[1], ops); err != nil {
		t.Fatal(err)
	}
	want := `EPOCH  TYPE       STATUS     STARTED   DURATION  BACKEND
    1  scheduled  completed  15:29:35      61ms  parquet
    2  stopping   completed  15:29:45     1.25s  parquet

Epoch 2 · stopping · started 15:29:45 · took 1.25s
  phases: CheckpointingOperators 1.20s, WritingMetadata 3.00ms

OPERATOR / SUBTASK    BYTES  ALIGNMENT    SYNC   ASYNC  COMMITTING   TOTAL
source_1            1.5 KiB          -   170µs  2.50ms           -  2.67ms
  subtask 0           512 B         0s   150µs  2.35ms           -  2.50ms
  subtask 1           1 KiB         0s   170µs  2.50ms           -  2.67ms
tumble_window_2       8 MiB       12ms  7.50ms   1.15s        41ms   1.21s
  subtask 0           3 MiB       12ms  4.00ms   480ms        35ms   531ms
  subtask 1           5 MiB     9.00ms  7.50ms   1.15s        41ms   1.21s
`
	if got := b.String(); got != want {
		t.Fatalf("got:\n%s\nwant:\n%s", got, want)
	}
}

func TestRenderCheckpointInProgressAndEmpty(t *testing.T) {
	start := now.Add(-2 * time.Second)
	cp := client.Checkpoint{Epoch: 7, CheckpointType: "scheduled", StartTime: micros(start),
		Events: []client.CheckpointEventSpan{{Event: "CheckpointingOperators", StartTime: micros(start)}}}
	var b bytes.Buffer
	if err := renderCheckpoints(&b, now, []client.Checkpoint{cp}); err != nil {
		t.Fatal(err)
	}
	if err := renderCheckpointDetail(&b, now, &cp, nil); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"in progress  15:29:58     2.00s", "Epoch 7 · scheduled · started 15:29:58 · in progress\n  phases: CheckpointingOperators running", "No operator detail recorded for this epoch."} {
		if !strings.Contains(b.String(), want) {
			t.Fatalf("missing %q in:\n%s", want, b.String())
		}
	}
}

func TestRenderMetrics(t *testing.T) {
	g := client.Graph{Nodes: []client.GraphNode{{NodeID: 1, Operator: "impulse source -> project", Parallelism: 2}, {NodeID: 2, Operator: "preview sink", Parallelism: 1}}}
	series := func(vals ...float64) []client.SubtaskMetrics {
		var out []client.SubtaskMetrics
		for i, v := range vals {
			out = append(out, client.SubtaskMetrics{Index: i, Metrics: []client.Metric{{Value: 0}, {Value: v}}})
		}
		return out
	}
	groups := []client.OperatorMetricGroup{
		{NodeID: 1, MetricGroups: []client.MetricGroup{
			{Name: "backpressure", Subtasks: series(0.25, 0.5)},
			{Name: "bytes_recv", Subtasks: series(0, 0)},
			{Name: "bytes_sent", Subtasks: series(2048, 3<<20)},
			{Name: "messages_recv", Subtasks: series(0, 0)},
			{Name: "messages_sent", Subtasks: series(49.5, 25000)},
		}},
		{NodeID: 2, MetricGroups: []client.MetricGroup{
			{Name: "messages_recv", Subtasks: series(1.5e6)},
		}},
	}
	var b bytes.Buffer
	if err := renderMetrics(&b, g, groups); err != nil {
		t.Fatal(err)
	}
	want := `NODE / SUBTASK               MSGS IN/s  MSGS OUT/s  BYTES IN/s  BYTES OUT/s  BACKPRESSURE
1 impulse source -> project        0.0       25.0k       0 B/s    3.0 MiB/s           50%
  subtask 0                        0.0        49.5       0 B/s      2 KiB/s           25%
  subtask 1                        0.0       25.0k       0 B/s      3 MiB/s           50%
2 preview sink                   1.50M         0.0       0 B/s        0 B/s            0%
`
	if got := b.String(); got != want {
		t.Fatalf("got:\n%s\nwant:\n%s", got, want)
	}
}

func TestPrintDiagnostics(t *testing.T) {
	q := "CREATE TABLE t WITH (connector = 'impulse');\n\tSELECT countr,\n  x FROM t;\nSELECT 1"
	var b bytes.Buffer
	printDiagnostics(&b, "q.sql", q, []client.SQLDiagnostic{
		{Message: "unknown column 'countr'", Span: &client.Span{Start: client.Position{Line: 2, Column: 9}, End: client.Position{Line: 2, Column: 15}}},
		{Message: "spans lines", Span: &client.Span{Start: client.Position{Line: 2, Column: 2}, End: client.Position{Line: 3, Column: 3}}},
		{Message: "no position"},
		{Message: "past the end", Span: &client.Span{Start: client.Position{Line: 40, Column: 1}, End: client.Position{Line: 40, Column: 2}}},
		{Message: "zero width\nsecond line", Span: &client.Span{Start: client.Position{Line: 4, Column: 9}, End: client.Position{Line: 4, Column: 9}}},
	})
	want := "error: unknown column 'countr'\n" +
		" --> q.sql:2:9\n" +
		"  |\n" +
		"2 | \tSELECT countr,\n" +
		"  | \t       ^^^^^^\n" +
		"\n" +
		"error: spans lines\n" +
		" --> q.sql:2:2\n" +
		"  |\n" +
		"2 | \tSELECT countr,\n" +
		"  | \t^^^^^^^^^^^^^^\n" +
		"\n" +
		"error: no position\n" +
		"\n" +
		"error: past the end\n" +
		"  --> q.sql:40:1\n" +
		"\n" +
		"error: zero width\n" +
		"       second line\n" +
		" --> q.sql:4:9\n" +
		"  |\n" +
		"4 | SELECT 1\n" +
		"  |         ^\n"
	if got := b.String(); got != want {
		t.Fatalf("got:\n%s\nwant:\n%s", got, want)
	}
}

func TestLiveTable(t *testing.T) {
	var b bytes.Buffer
	lt := newLiveTable(&b)
	row := func(cols []string, vals ...any) client.Row { return client.Row{Columns: cols, Values: vals} }
	cols := []string{"id", "name", "ok", "note"}
	n := func(s string) json.Number { return json.Number(s) }
	for _, r := range []client.Row{
		row(cols, n("1"), "a", true, nil),
		row(cols, n("100"), "bb", false, "multi\nline"),
		row(cols, n("12345"), "c", true, map[string]any{"k": n("1")}), // wider than the headroom: header again
		row(cols, n("2"), strings.Repeat("x", 60), true, nil),         // capped and cut
	} {
		if err := lt.write("sink_1", r); err != nil {
			t.Fatal(err)
		}
	}
	if err := lt.write("sink_2", row([]string{"other"}, "z")); err != nil { // another sink: a new table
		t.Fatal(err)
	}
	want := ` id  name      ok     note
───  ────────  ─────  ────
  1  a         true   NULL
 id  name      ok     note
───  ────────  ─────  ───────────
100  bb        false  multi\nline
   id  name      ok     note
─────  ────────  ─────  ───────────
12345  c         true   {"k":1}
   id  name                                              ok     note
─────  ────────────────────────────────────────────────  ─────  ───────────
    2  xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx…  true   NULL

other
────────
z
`
	if got := b.String(); got != want {
		t.Fatalf("got:\n%s\nwant:\n%s", got, want)
	}
}

func TestFormatting(t *testing.T) {
	for _, c := range []struct {
		got, want string
	}{
		{humanBytes(0), "0 B"}, {humanBytes(1023), "1023 B"}, {humanBytes(1024), "1 KiB"}, {humanBytes(1536), "1.5 KiB"},
		{humanBytes(5 << 20), "5 MiB"}, {humanBytes(150 << 30), "150 GiB"}, {humanBytes(1 << 62), "4 EiB"},
		{humanDuration(0), "0s"}, {humanDuration(850 * time.Microsecond), "850µs"}, {humanDuration(1250 * time.Microsecond), "1.25ms"},
		{humanDuration(125 * time.Millisecond), "125ms"}, {humanDuration(1250 * time.Millisecond), "1.25s"},
		{humanDuration(12500 * time.Millisecond), "12.5s"}, {humanDuration(125 * time.Second), "2m05s"},
		{humanDuration(62 * time.Minute), "1h02m"}, {humanDuration(-time.Second), "-1.00s"},
		{interval(10 * time.Second), "10s"}, {interval(time.Minute), "1m"}, {interval(90 * time.Second), "1m30s"},
		{interval(time.Hour), "1h"}, {interval(24 * time.Hour), "24h"}, {interval(1500 * time.Millisecond), "1.5s"},
		{age(now, now.Add(-5*time.Second)), "5s"}, {age(now, now.Add(-3*time.Minute)), "3m"},
		{age(now, now.Add(-30*time.Hour)), "30h"}, {age(now, now.Add(-100*time.Hour)), "4d"}, {age(now, now.Add(time.Hour)), "0s"},
		{clock(now, now.Add(-time.Minute)), "15:29:00"}, {clock(now, now.Add(-24*time.Hour)), "2026-12-03 15:30:00"},
		{formatRate(0), "0.0"}, {formatRate(99.94), "99.9"}, {formatRate(150), "150.0"}, {formatRate(1234.4), "1234"}, {formatRate(12345), "12.3k"},
		{truncate("héllo", 3), "hé…"}, {truncate("abc", 3), "abc"}, {cellText(nil), "NULL"}, {cellText("a\tb"), `a\tb`},
	} {
		if c.got != c.want {
			t.Errorf("got %q, want %q", c.got, c.want)
		}
	}
}

func TestTableRender(t *testing.T) {
	tb := newTable(col("NAME"), rcol("N"), col("LAST"))
	tb.add("ä", "1", "x")
	tb.add("long name", "12345")
	var b bytes.Buffer
	if err := tb.render(&b); err != nil {
		t.Fatal(err)
	}
	want := "NAME           N  LAST\n" +
		"ä              1  x\n" +
		"long name  12345\n"
	if b.String() != want {
		t.Fatalf("got:\n%q\nwant:\n%q", b.String(), want)
	}
}

func TestYAMLKeepsJSONOrderAndTypes(t *testing.T) {
	v := struct {
		Zed   string         `json:"zed"`
		Alpha int            `json:"alpha"`
		Query string         `json:"query"`
		Num   string         `json:"num"`
		F     float64        `json:"f"`
		Nil   *int           `json:"nil"`
		List  []int          `json:"list"`
		Empty []int          `json:"empty"`
		Map   map[string]any `json:"map"`
	}{Zed: "z", Alpha: 1, Query: "SELECT 1;\nSELECT 2;", Num: "123", F: 1.5, List: []int{1, 2}, Empty: []int{}, Map: map[string]any{"b": true}}
	b, err := toYAML(v)
	if err != nil {
		t.Fatal(err)
	}
	want := `zed: z
alpha: 1
query: |-
  SELECT 1;
  SELECT 2;
num: "123"
f: 1.5
nil: null
list:
  - 1
  - 2
empty: []
map:
  b: true
`
	if string(b) != want {
		t.Fatalf("got:\n%s\nwant:\n%s", b, want)
	}
}

func TestProgress(t *testing.T) {
	var b bytes.Buffer
	p := newProgress(&b, false, "doubled")
	p.update("Created")
	p.update("Created")
	p.update("Scheduling")
	p.finish(true, "Running")
	if !regexp.MustCompile(`^doubled: Created\ndoubled: Scheduling\ndoubled: Running \(after [0-9.]+(µs|ms|s)\)\n$`).MatchString(b.String()) {
		t.Fatalf("plain progress:\n%q", b.String())
	}

	var tty syncBuffer
	p = newProgress(&tty, true, "doubled")
	p.update("Scheduling")
	time.Sleep(250 * time.Millisecond)
	p.finish(false, "Failed")
	out := tty.String()
	if !strings.Contains(out, "\r\x1b[K⠋ doubled: Scheduling") || !strings.Contains(out, "\r\x1b[K⠙ doubled: Scheduling") ||
		!strings.HasSuffix(out, "\n") || !strings.Contains(out, "\r\x1b[K✗ doubled: Failed (after ") {
		t.Fatalf("terminal progress:\n%q", out)
	}
	if isTerminal(&b) {
		t.Fatal("a buffer is not a terminal")
	}
}

func TestExitCodes(t *testing.T) {
	wrap := func(err error) error { return fmt.Errorf("context: %w", err) }
	for _, c := range []struct {
		err  error
		code int
	}{
		{nil, 0},
		{usageError{errors.New("bad flag")}, 1},
		{wrap(&client.APIError{StatusCode: 404}), 1},
		{wrap(&client.APIError{StatusCode: 400}), 1},
		{wrap(&client.APIError{StatusCode: 500}), 2},
		{wrap(&client.APIError{StatusCode: 503}), 2},
		{wrap(&client.ConnectionError{Err: errors.New("refused")}), 2},
		{&jobFailedError{job: client.Job{FailureReason: &client.FailureReason{Domain: "user"}}}, 1},
		{&jobFailedError{job: client.Job{FailureReason: &client.FailureReason{Domain: "internal"}}}, 2},
		{&jobFailedError{}, 2},
		{silentError{errors.New("x"), 1}, 1},
		{wrap(context.Canceled), 130},
		{errors.New("anything else"), 2},
	} {
		if got := exitCode(c.err); got != c.code {
			t.Errorf("exitCode(%v) = %d, want %d", c.err, got, c.code)
		}
	}
}

// fakeAPI serves one pipeline whose job goes through states, one per
// poll, repeating the last: enough to test how the CLI waits.
func fakeAPI(t *testing.T, states []client.JobState, failure *client.FailureReason) string {
	var polls atomic.Int32
	mux := http.NewServeMux()
	pipeline := client.Pipeline{ID: "pl_1", Name: "fake", Stop: client.StopNone, Graph: client.Graph{Nodes: []client.GraphNode{{NodeID: 1, Parallelism: 1}}}}
	mux.HandleFunc("POST /api/v1/pipelines", func(w http.ResponseWriter, r *http.Request) { json.NewEncoder(w).Encode(pipeline) })
	mux.HandleFunc("GET /api/v1/pipelines/pl_1", func(w http.ResponseWriter, r *http.Request) { json.NewEncoder(w).Encode(pipeline) })
	mux.HandleFunc("GET /api/v1/pipelines/pl_1/jobs", func(w http.ResponseWriter, r *http.Request) {
		i := min(int(polls.Add(1))-1, len(states)-1)
		j := client.Job{ID: "job_1", PipelineID: "pl_1", State: states[i]}
		if states[i] == client.StateFailed {
			j.FailureReason = failure
		}
		json.NewEncoder(w).Encode(map[string]any{"data": []client.Job{j}})
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(500)
		w.Write([]byte(`{"error":"Something went wrong"}`))
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv.URL
}

func TestWaitOutcomes(t *testing.T) {
	dir := t.TempDir()
	sql := dir + "/q.sql"
	if err := os.WriteFile(sql, []byte(doubledSQL), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx := ctxTimeout(t, time.Minute)
	create := func(endpoint string, extra ...string) result {
		return runCLI(ctx, endpoint, "", append([]string{"pipeline", "create", "--name", "fake", "-f", sql, "--wait"}, extra...)...)
	}

	ep := fakeAPI(t, []client.JobState{client.StateCreated, client.StateCompiling, client.StateFailed},
		&client.FailureReason{Error: "Failed to plan query: nope", Domain: "user"})
	r := create(ep)
	if r.code != 1 || !strings.Contains(r.err, "Error: fake failed: Failed to plan query: nope (see `runnel job errors fake`)") ||
		!strings.Contains(r.err, "fake: Compiling\nfake: Failed (after ") {
		t.Fatalf("failure of the user's making: %s", r)
	}

	ep = fakeAPI(t, []client.JobState{client.StateScheduling, client.StateFailing, client.StateFailed},
		&client.FailureReason{Error: "worker lost", Domain: "internal"})
	if r = create(ep); r.code != 2 || !strings.Contains(r.err, "fake failed: worker lost") {
		t.Fatalf("internal failure: %s", r)
	}

	ep = fakeAPI(t, []client.JobState{client.StateScheduling}, nil)
	if r = create(ep, "--timeout", "300ms"); r.code != 2 || !strings.Contains(r.err, "timed out after 300ms waiting for fake (pl_1) (last state: Scheduling)") {
		t.Fatalf("timeout: %s", r)
	}

	// Ctrl-C while waiting: 130.
	cctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	cancelled, stop := context.WithCancel(context.Background())
	go func() { <-cctx.Done(); stop() }()
	if r = runCLI(cancelled, ep, "", "pipeline", "create", "--name", "fake", "-f", sql, "--wait"); r.code != 130 {
		t.Fatalf("interrupted wait: %s", r)
	}

	// A 5xx is the server's failure.
	if r = runCLI(ctx, ep, "", "pipeline", "list"); r.code != 2 || !strings.Contains(r.err, "Something went wrong (HTTP 500)") {
		t.Fatalf("500: %s", r)
	}
}
