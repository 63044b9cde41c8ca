package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/runnel-dev/runnel/internal/cluster"
	"github.com/runnel-dev/runnel/internal/config"
	"github.com/runnel-dev/runnel/internal/store"
	"github.com/runnel-dev/runnel/pkg/client"
)

// These tests drive every client command in-process, through the same
// run function main uses, against a real cluster on a random port.

const (
	doubledSQL = `CREATE TABLE impulse WITH (connector='impulse', event_rate='100');
CREATE TABLE sink WITH (connector='blackhole');
INSERT INTO sink SELECT counter * 2 AS doubled FROM impulse;
`
	previewSQL = `CREATE TABLE impulse WITH (connector = 'impulse', event_rate = '20');
SELECT counter, counter % 3 AS bucket FROM impulse;
`
	// Dividing by zero at counter 5 fails the task on every run.
	failingSQL = `CREATE TABLE impulse WITH (connector='impulse', event_rate='100');
CREATE TABLE sink WITH (connector='blackhole');
INSERT INTO sink SELECT 10 / (counter - 5) AS boom FROM impulse;
`
	badSQL = `CREATE TABLE impulse WITH (connector = 'impulse', event_rate = '20');
SELECT countr, counter % 3 AS bucket FROM impulse;
`
)

type testEnv struct {
	t   *testing.T
	cl  *cluster.Cluster
	api *client.Client
	dir string
}

func clusterConfig(dir string) config.Config {
	cfg := config.Defaults()
	cfg.HTTPAddr = "127.0.0.1:0"
	cfg.DataDir = dir
	cfg.DatabaseURL = "sqlite://" + filepath.Join(dir, "runnel.db")
	cfg.Controller.PollInterval = 50 * time.Millisecond
	cfg.Controller.StopTimeout = 5 * time.Second
	cfg.Controller.InitialBackoff = 10 * time.Millisecond
	cfg.Controller.MaxBackoff = 50 * time.Millisecond
	cfg.Controller.AllowedRestarts = 2
	cfg.API.ShutdownTimeout = 5 * time.Second
	return cfg
}

func newEnv(t *testing.T, tweak ...func(*config.Config)) *testEnv {
	t.Helper()
	dir := t.TempDir()
	cfg := clusterConfig(filepath.Join(dir, "data"))
	for _, f := range tweak {
		f(&cfg)
	}
	cl, err := cluster.Start(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cl.Shutdown() })
	api, err := client.New(cl.URL(), client.WithPollInterval(20*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	return &testEnv{t: t, cl: cl, api: api, dir: dir}
}

// file writes a file under the test's directory and returns its path.
func (e *testEnv) file(name, content string) string {
	e.t.Helper()
	p := filepath.Join(e.dir, name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		e.t.Fatal(err)
	}
	return p
}

type result struct {
	out, err string
	code     int
}

func (r result) String() string {
	return "exit " + strconv.Itoa(r.code) + "\nstdout:\n" + r.out + "\nstderr:\n" + r.err
}

// syncBuffer is a buffer that a test can read while a command writes it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// runCLI runs one command line against the endpoint.
func runCLI(ctx context.Context, endpoint string, stdin string, args ...string) result {
	var out, errb syncBuffer
	if endpoint != "" && !slices.Contains(args, "--endpoint") {
		args = append(args, "--endpoint", endpoint)
	}
	code := run(ctx, args, strings.NewReader(stdin), &out, &errb)
	return result{out: out.String(), err: errb.String(), code: code}
}

func (e *testEnv) run(args ...string) result {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	return runCLI(ctx, e.cl.URL(), "", args...)
}

// must runs a command that has to succeed.
func (e *testEnv) must(args ...string) result {
	e.t.Helper()
	r := e.run(args...)
	if r.code != 0 {
		e.t.Fatalf("runnel %s: %s", strings.Join(args, " "), r)
	}
	return r
}

func (e *testEnv) job(pipeline string) client.Job {
	e.t.Helper()
	j, err := e.api.CurrentJob(context.Background(), pipeline)
	if err != nil {
		e.t.Fatal(err)
	}
	return *j
}

func (e *testEnv) pipelineID(name string) string {
	e.t.Helper()
	for p, err := range e.api.Pipelines(context.Background(), nil) {
		if err != nil {
			e.t.Fatal(err)
		}
		if p.Name == name {
			return p.ID
		}
	}
	e.t.Fatalf("no pipeline %s", name)
	return ""
}

func contains(t *testing.T, r result, stream, want string) {
	t.Helper()
	s := r.out
	if stream == "stderr" {
		s = r.err
	}
	if !strings.Contains(s, want) {
		t.Fatalf("%s lacks %q:\n%s", stream, want, r)
	}
}

// aligned checks that in a rendered table the cell on the line containing
// marker lines up with the column title: both start in the same column
// (left-aligned) or both end in it (right-aligned).
func aligned(t *testing.T, table, title, marker, cell string) {
	t.Helper()
	runes := func(s string) int { return len([]rune(s)) }
	start, end := -1, -1
	for _, l := range strings.Split(table, "\n") {
		if i := strings.Index(l, title); i >= 0 && start < 0 {
			start, end = runes(l[:i]), runes(l[:i])+runes(title)
			continue
		}
		if start >= 0 && strings.Contains(l, marker) {
			i := strings.Index(l, cell)
			if i < 0 || (runes(l[:i]) != start && runes(l[:i])+runes(cell) != end) {
				t.Fatalf("%q not under %q in:\n%s", cell, title, table)
			}
			return
		}
	}
	t.Fatalf("no %q row under %q in:\n%s", marker, title, table)
}

func TestPipelineCommands(t *testing.T) {
	e := newEnv(t)
	sql := e.file("doubled.sql", doubledSQL)

	r := e.must("validate", "-f", sql)
	contains(t, r, "stdout", sql+" is valid: 1 node")
	contains(t, r, "stdout", "impulse source -> project -> blackhole sink")

	r = e.must("pipeline", "list")
	contains(t, r, "stdout", "No pipelines yet")
	if r = e.must("pipeline", "list", "-o", "json"); strings.TrimSpace(r.out) != "[]" {
		t.Fatalf("empty list as JSON: %s", r)
	}

	r = e.must("pipeline", "create", "--name", "doubled", "-f", sql, "--checkpoint-interval", "30s", "--wait")
	contains(t, r, "stdout", "Created pipeline doubled (pl_")
	contains(t, r, "stderr", "doubled: Running (after ")
	id := e.pipelineID("doubled")
	if j := e.job(id); j.State != client.StateRunning || j.RunID != 1 {
		t.Fatalf("after create --wait: %+v", j)
	}

	r = e.must("pipeline", "list")
	contains(t, r, "stdout", "every 30s")
	aligned(t, r.out, "STATE", "doubled", "Running")
	aligned(t, r.out, "NAME", id, "doubled")
	var ps []client.Pipeline
	if r = e.must("pipeline", "ls", "-o", "json"); json.Unmarshal([]byte(r.out), &ps) != nil || len(ps) != 1 || ps[0].ID != id {
		t.Fatalf("list -o json: %s", r)
	}

	r = e.must("pipeline", "get", "doubled")
	contains(t, r, "stdout", "State:                Running (run 1, 1 task)")
	contains(t, r, "stdout", "Checkpoint interval:  30s")
	contains(t, r, "stdout", "  INSERT INTO sink SELECT counter * 2 AS doubled FROM impulse;")
	r = e.must("pipeline", "get", id, "-o", "yaml")
	var y map[string]any
	if err := yaml.Unmarshal([]byte(r.out), &y); err != nil || y["name"] != "doubled" || y["id"] != id {
		t.Fatalf("get -o yaml: %v %s", err, r)
	}
	contains(t, r, "stdout", "query: |") // multi-line SQL as a literal block

	r = e.must("pipeline", "rescale", "doubled", "--parallelism", "2", "--wait")
	contains(t, r, "stdout", "Rescaling doubled ("+id+") to parallelism 2")
	if j := e.job(id); j.State != client.StateRunning || j.RunID != 2 || j.Tasks == nil || *j.Tasks != 2 {
		t.Fatalf("after rescale --wait: %+v", j)
	}
	r = e.must("pipeline", "rescale", "doubled", "-p", "2")
	contains(t, r, "stdout", "already runs with parallelism 2")

	e.must("pipeline", "restart", "doubled", "--wait")
	if j := e.job(id); j.State != client.StateRunning || j.RunID != 3 {
		t.Fatalf("after restart --wait: %+v", j)
	}
	r = e.must("pipeline", "restart", id, "--force", "--wait", "-o", "json")
	var p client.Pipeline
	if json.Unmarshal([]byte(r.out), &p) != nil || p.ID != id {
		t.Fatalf("restart -o json: %s", r)
	}
	if j := e.job(id); j.State != client.StateRunning || j.RunID != 4 {
		t.Fatalf("after restart --force --wait: %+v", j)
	}

	r = e.must("pipeline", "stop", "doubled", "--wait")
	contains(t, r, "stdout", "Stopping doubled ("+id+") after a final checkpoint")
	contains(t, r, "stderr", "doubled: Stopped (after ")
	if j := e.job(id); j.State != client.StateStopped {
		t.Fatalf("after stop --wait: %+v", j)
	}
	r = e.run("pipeline", "restart", "doubled")
	if r.code != 1 || !strings.Contains(r.err, "is Stopped; start it with `runnel pipeline start doubled`") {
		t.Fatalf("restart of a stopped pipeline: %s", r)
	}

	r = e.must("pipeline", "start", "doubled", "--wait")
	contains(t, r, "stdout", "Starting doubled")
	if j := e.job(id); j.State != client.StateRunning || j.RunID != 5 {
		t.Fatalf("after start --wait: %+v", j)
	}
	r = e.must("pipeline", "start", "doubled")
	contains(t, r, "stdout", "already running")

	r = e.run("pipeline", "delete", "doubled")
	if r.code != 1 || !strings.Contains(r.err, "terminal state") || !strings.Contains(r.err, "pass --stop") {
		t.Fatalf("delete of a running pipeline: %s", r)
	}
	r = e.must("pipeline", "stop", "doubled", "--mode", "graceful", "--wait", "-o", "yaml")
	contains(t, r, "stdout", "stop: graceful")
	if r = e.must("pipeline", "rescale", "doubled", "-p", "3"); !strings.Contains(r.out, "will run with parallelism 3 when started") {
		t.Fatalf("rescale of a stopped pipeline: %s", r)
	}
	e.must("pipeline", "start", "doubled", "--wait")
	if j := e.job(id); j.Tasks == nil || *j.Tasks != 3 {
		t.Fatalf("started with the new parallelism: %+v", j)
	}

	r = e.must("pipeline", "delete", "doubled", "--stop", "-o", "json")
	var d deleted
	if json.Unmarshal([]byte(r.out), &d) != nil || d != (deleted{ID: id, Name: "doubled", Deleted: true}) {
		t.Fatalf("delete -o json: %s", r)
	}
	if _, err := e.api.GetPipeline(context.Background(), id); !client.IsNotFound(err) {
		t.Fatalf("still there: %v", err)
	}
}

func TestFailingPipelineCommands(t *testing.T) {
	e := newEnv(t)
	sql := e.file("failing.sql", failingSQL)

	e.must("pipeline", "create", "--name", "failing", "-f", sql)
	id := e.pipelineID("failing")
	j, err := e.api.WaitForState(ctxTimeout(t, time.Minute), id, client.StateFailed)
	if err != nil {
		t.Fatal(err)
	}
	r := e.must("pipeline", "get", "failing")
	contains(t, r, "stdout", "State:                Failed")
	contains(t, r, "stdout", "Failure:              ")
	r = e.must("job", "list")
	aligned(t, r.out, "FAILURE", j.ID, j.FailureReason.Error)

	r = e.must("job", "errors", "failing")
	contains(t, r, "stdout", "task failed: project_1: (10 / (counter - 5)): invalid: divide by zero")
	aligned(t, r.out, "OPERATOR", "divide by zero", "project_1")
	if r = e.must("job", "errors", "failing", "--limit", "1"); strings.Count(r.out, "\n") != 2 {
		t.Fatalf("--limit 1 shows one row under the header:\n%s", r)
	}
	var msgs []client.JobLogMessage
	if r = e.must("job", "errors", "failing", "--limit", "0", "-o", "json"); json.Unmarshal([]byte(r.out), &msgs) != nil || len(msgs) < 2 {
		t.Fatalf("errors -o json: %s", r)
	}

	// Start brings a Failed job back, through a restart.
	e.must("pipeline", "start", "failing")
	if _, err := e.api.WaitForJob(ctxTimeout(t, time.Minute), id, func(nj *client.Job) (bool, error) {
		return nj.RunID > j.RunID, nil
	}); err != nil {
		t.Fatalf("start did not run the failed job again: %v", err)
	}

	// A preview fails at its first error, the query's fault: the stream
	// ends, exit 1.
	r = e.run("preview", "-f", sql)
	if r.code != 1 || !strings.Contains(r.err, "Preview failed ") || !strings.Contains(r.err, "divide by zero") ||
		!regexp.MustCompile("see `runnel job errors pl_\\w+`").MatchString(r.err) {
		t.Fatalf("failing preview: %s", r)
	}

	// --follow prints what exists, then stops cleanly on Ctrl-C.
	for _, format := range []string{"table", "json"} {
		ctx, cancel := context.WithCancel(context.Background())
		var res result
		done := make(chan struct{})
		var out syncBuffer
		go func() {
			defer close(done)
			var errb syncBuffer
			res.code = run(ctx, []string{"job", "errors", "failing", "-F", "-o", format, "--endpoint", e.cl.URL()}, strings.NewReader(""), &out, &errb)
			res.err = errb.String()
		}()
		deadline := time.Now().Add(20 * time.Second)
		for !strings.Contains(out.String(), "divide by zero") && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		cancel()
		<-done
		res.out = out.String()
		if res.code != 0 || !strings.Contains(res.err, "Following errors of failing") || !strings.Contains(res.out, "divide by zero") {
			t.Fatalf("errors --follow -o %s: %s", format, res)
		}
		if format == "json" {
			for _, l := range strings.Split(strings.TrimSpace(res.out), "\n") {
				var m client.JobLogMessage
				if err := json.Unmarshal([]byte(l), &m); err != nil || m.Level != "error" {
					t.Fatalf("follow line %q: %v", l, err)
				}
			}
		} else if !regexp.MustCompile(`(?m)^\d\d:\d\d:\d\d\.\d{3}  error  project_1/0  task failed: `).MatchString(res.out) {
			t.Fatalf("follow lines:\n%s", res.out)
		}
	}
}

func TestJobCommands(t *testing.T) {
	e := newEnv(t)
	e.must("pipeline", "create", "--name", "doubled", "-f", e.file("d.sql", doubledSQL), "-p", "2", "--wait")
	id := e.pipelineID("doubled")
	j := e.job(id)

	r := e.must("job", "list")
	aligned(t, r.out, "PIPELINE", j.ID, "doubled")
	aligned(t, r.out, "STATE", j.ID, "Running")
	var jobs []client.Job
	if r = e.must("job", "list", "doubled", "-o", "json"); json.Unmarshal([]byte(r.out), &jobs) != nil || len(jobs) != 1 || jobs[0].ID != j.ID {
		t.Fatalf("job list PIPELINE -o json: %s", r)
	}
	contains(t, e.must("job", "errors", "doubled"), "stdout", "No errors for doubled")

	// Metrics are sampled every 2 s.
	deadline := time.Now().Add(20 * time.Second)
	for {
		r = e.must("job", "metrics", "doubled")
		if !strings.Contains(r.out, "No metrics yet") || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	contains(t, r, "stdout", "NODE / SUBTASK")
	contains(t, r, "stdout", "1 impulse source -> project -> blackhole sink")
	contains(t, r, "stdout", "  subtask 1")
	aligned(t, r.out, "BACKPRESSURE", "subtask 0", "0%")
	var groups []client.OperatorMetricGroup
	if r = e.must("job", "metrics", id, "-o", "json"); json.Unmarshal([]byte(r.out), &groups) != nil || len(groups) != 1 {
		t.Fatalf("metrics -o json: %s", r)
	}

	r = e.must("job", "checkpoints", "doubled")
	contains(t, r, "stdout", "No checkpoints yet for doubled (job "+j.ID+", Running); its checkpoint interval is 10s.")
	if r = e.must("job", "checkpoints", "doubled", "-o", "json"); strings.TrimSpace(r.out) != "[]" {
		t.Fatalf("no checkpoints as JSON: %s", r)
	}

	// The engine does not checkpoint yet: real rows in the store stand in.
	for epoch := int64(1); epoch <= 2; epoch++ {
		if err := e.cl.Store().PutCheckpoint(context.Background(), fixtureStoreCheckpoint(j.ID, epoch)); err != nil {
			t.Fatal(err)
		}
	}
	r = e.must("job", "checkpoints", "doubled")
	for _, want := range []string{"EPOCH  TYPE       STATUS     STARTED", "Epoch 2 · scheduled", "OPERATOR / SUBTASK", "source_1", "  subtask 1", "1.5 KiB"} {
		contains(t, r, "stdout", want)
	}
	aligned(t, r.out, "BYTES", "  subtask 0", "512 B")
	r = e.must("job", "checkpoints", "doubled", "--epoch", "1")
	contains(t, r, "stdout", "Epoch 1 · scheduled")
	if strings.Contains(r.out, "EPOCH") {
		t.Fatalf("--epoch shows the list too:\n%s", r)
	}
	r = e.run("job", "checkpoints", "doubled", "--epoch", "9")
	if r.code != 1 || !strings.Contains(r.err, "Checkpoint with epoch 9 for job '"+j.ID+"' not found") {
		t.Fatalf("unknown epoch: %s", r)
	}
	var cps []client.Checkpoint
	if r = e.must("job", "checkpoints", "doubled", "-o", "json"); json.Unmarshal([]byte(r.out), &cps) != nil || len(cps) != 2 {
		t.Fatalf("checkpoints -o json: %s", r)
	}
	r = e.must("job", "checkpoints", "doubled", "--epoch", "2", "-o", "yaml")
	var detail struct {
		Checkpoint struct{ Epoch int }
		Operators  []struct {
			OperatorID string `yaml:"operator_id"`
		}
	}
	if err := yaml.Unmarshal([]byte(r.out), &detail); err != nil || detail.Checkpoint.Epoch != 2 || len(detail.Operators) != 2 {
		t.Fatalf("checkpoints --epoch -o yaml: %v %s", err, r)
	}
}

// fixtureStoreCheckpoint is a completed checkpoint of two operators with
// two subtasks each, as the controller will record them.
func fixtureStoreCheckpoint(jobID string, epoch int64) store.Checkpoint {
	t0 := time.Now().Add(-time.Duration(3-epoch) * 10 * time.Second).Truncate(time.Millisecond)
	at := func(us int) time.Time { return t0.Add(time.Duration(us) * time.Microsecond) }
	ptr := func(v time.Time) *time.Time { return &v }
	n := func(v int64) *int64 { return &v }
	task := func(i int, bytes int64, scale int) store.TaskCheckpoint {
		return store.TaskCheckpoint{SubtaskIndex: i, StartTime: at(0), FinishTime: ptr(at(40_000 * scale)), Bytes: n(bytes),
			Events: []store.TaskEvent{
				{Type: store.EventAlignmentStarted, Time: at(0)},
				{Type: store.EventCheckpointStarted, Time: at(150 * scale)},
				{Type: store.EventSyncFinished, Time: at(2_500 * scale)},
				{Type: store.EventPreCommit, Time: at(41_000 * scale)},
			}}
	}
	return store.Checkpoint{
		OrgID: store.DefaultOrg, ID: store.NewID("chk"), JobID: jobID, Epoch: epoch, Backend: "parquet",
		State: store.CheckpointReady, StartTime: at(0), FinishTime: ptr(at(60_000)),
		Events: []store.CheckpointEvent{
			{Event: "Checkpointing", StartTime: at(0), FinishTime: ptr(at(60_000))},
			{Event: "CheckpointingOperators", StartTime: at(0), FinishTime: ptr(at(50_000))},
			{Event: "WritingMetadata", StartTime: at(50_000), FinishTime: ptr(at(60_000))},
		},
		Operators: []store.OperatorCheckpoint{
			{OperatorID: "source_1", StartTime: at(0), FinishTime: ptr(at(50_000)), HasState: true,
				Tasks: []store.TaskCheckpoint{task(1, 1024, 1), task(0, 512, 1)}},
			{OperatorID: "window_2", StartTime: at(0), FinishTime: ptr(at(50_000)), HasState: true,
				Tasks: []store.TaskCheckpoint{task(0, 3<<20, 1), task(1, 5<<20, 2)}},
		},
	}
}

func TestPreviewCommand(t *testing.T) {
	e := newEnv(t)
	sql := e.file("q.sql", previewSQL)

	r := e.must("preview", "-f", sql, "--limit", "5")
	lines := strings.Split(strings.TrimRight(r.out, "\n"), "\n")
	if len(lines) != 7 || lines[0] != "counter  bucket" || lines[1] != "───────  ──────" {
		t.Fatalf("preview table:\n%s", r)
	}
	for _, l := range lines[2:] {
		if !regexp.MustCompile(`^ {3,6}\d+  {6}[012]$`).MatchString(l) {
			t.Fatalf("row %q not aligned under the header:\n%s", l, r)
		}
	}
	contains(t, r, "stderr", "Preview stopped after 5 rows.")
	m := regexp.MustCompile(`Started preview (pl_\w+)`).FindStringSubmatch(r.err)
	if m == nil {
		t.Fatalf("no preview id: %s", r)
	}
	if _, err := e.api.WaitForState(ctxTimeout(t, 10*time.Second), m[1], client.StateStopped); err != nil {
		t.Fatalf("preview left running after --limit: %v", err)
	}

	r = e.must("preview", "-f", sql, "-n", "3", "-o", "json")
	rows := strings.Split(strings.TrimSpace(r.out), "\n")
	if len(rows) != 3 {
		t.Fatalf("json rows: %s", r)
	}
	for _, l := range rows {
		if !regexp.MustCompile(`^\{"counter":\d+,"bucket":[012]\}$`).MatchString(l) {
			t.Fatalf("json row %q", l)
		}
	}
	r = e.must("preview", "-f", sql, "-n", "2", "-o", "yaml")
	if strings.Count(r.out, "---\ncounter: ") != 2 {
		t.Fatalf("yaml rows: %s", r)
	}

	// The query from standard input.
	r = runCLI(ctxTimeout(t, time.Minute), e.cl.URL(), previewSQL, "preview", "-f", "-", "-n", "1", "-o", "json")
	if r.code != 0 || !strings.HasPrefix(r.out, `{"counter":`) {
		t.Fatalf("preview -f -: %s", r)
	}

	// Ctrl-C stops the preview on the server.
	ctx, cancel := context.WithCancel(context.Background())
	var out, errb syncBuffer
	done := make(chan int)
	go func() {
		done <- run(ctx, []string{"preview", "-f", sql, "--endpoint", e.cl.URL()}, strings.NewReader(""), &out, &errb)
	}()
	deadline := time.Now().Add(20 * time.Second)
	for strings.Count(out.String(), "\n") < 4 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	code := <-done
	if code != 0 || !strings.Contains(errb.String(), "Preview stopped after ") {
		t.Fatalf("Ctrl-C: exit %d\n%s\n%s", code, out.String(), errb.String())
	}
	m = regexp.MustCompile(`Started preview (pl_\w+)`).FindStringSubmatch(errb.String())
	if _, err := e.api.WaitForState(ctxTimeout(t, 10*time.Second), m[1], client.StateStopped); err != nil {
		t.Fatalf("preview left running after Ctrl-C: %v", err)
	}
}

func TestPreviewEndsWithItsJob(t *testing.T) {
	e := newEnv(t, func(c *config.Config) { c.API.PreviewTTL = time.Second })
	r := e.must("preview", "-f", e.file("q.sql", previewSQL))
	contains(t, r, "stderr", "Preview ended after ")
	if n := strings.Count(r.out, "\n"); n < 5 {
		t.Fatalf("only %d lines in a second at 20 rows/s:\n%s", n, r)
	}
}

func ctxTimeout(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// downEndpoint is an address where nothing listens.
func downEndpoint(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return "http://" + addr
}

func TestBadInput(t *testing.T) {
	e := newEnv(t)
	good := e.file("good.sql", doubledSQL)
	bad := e.file("bad.sql", badSQL)
	empty := e.file("empty.sql", "  \n")
	missing := filepath.Join(e.dir, "missing.sql")
	e.must("pipeline", "create", "--name", "doubled", "-f", good, "--wait")

	caret := "error: unknown column 'countr' in table 'impulse' (columns: counter, subtask_index, timestamp)\n" +
		" --> " + bad + ":2:8\n" +
		"  |\n" +
		"2 | SELECT countr, counter % 3 AS bucket FROM impulse;\n" +
		"  |        ^^^^^^\n"
	down := downEndpoint(t)
	cases := []struct {
		args []string
		code int
		want string // in stderr
	}{
		{[]string{"validate", "-f", missing}, 1, "reading query: open " + missing + ": no such file or directory"},
		{[]string{"preview", "-f", missing}, 1, "no such file or directory"},
		{[]string{"pipeline", "create", "--name", "x", "-f", missing}, 1, "no such file or directory"},
		{[]string{"validate", "-f", empty}, 1, empty + " is empty"},
		{[]string{"validate"}, 1, "no query: pass -f FILE"},
		{[]string{"validate", "-f", bad}, 1, caret},
		{[]string{"pipeline", "create", "--name", "x", "-f", bad}, 1, caret},
		{[]string{"preview", "-f", bad}, 1, caret},
		{[]string{"pipeline", "create", "-f", good}, 1, "--name is required"},
		{[]string{"pipeline", "create", "--name", "x", "-f", good, "-p", "0"}, 1, "--parallelism must be at least 1"},
		{[]string{"pipeline", "create", "--name", "x", "-f", good, "--checkpoint-interval", "10ms"}, 1, "--checkpoint-interval must be between 1s and 24h"},
		{[]string{"pipeline", "create", "--name", "x", "-f", good, "--checkpoint-interval", "soon"}, 1, `invalid argument "soon"`},
		{[]string{"pipeline", "get", "nope"}, 1, `no pipeline with id or name "nope"`},
		{[]string{"pipeline", "get", "pl_0000000000"}, 1, `no pipeline with id or name "pl_0000000000"`},
		{[]string{"pipeline", "stop", "nope"}, 1, `no pipeline with id or name "nope"`},
		{[]string{"pipeline", "start", "nope"}, 1, `no pipeline with id or name "nope"`},
		{[]string{"pipeline", "restart", "nope"}, 1, `no pipeline with id or name "nope"`},
		{[]string{"pipeline", "rescale", "nope", "-p", "2"}, 1, `no pipeline with id or name "nope"`},
		{[]string{"pipeline", "delete", "nope"}, 1, `no pipeline with id or name "nope"`},
		{[]string{"job", "list", "nope"}, 1, `no pipeline with id or name "nope"`},
		{[]string{"job", "errors", "nope"}, 1, `no pipeline with id or name "nope"`},
		{[]string{"job", "checkpoints", "nope"}, 1, `no pipeline with id or name "nope"`},
		{[]string{"job", "metrics", "nope"}, 1, `no pipeline with id or name "nope"`},
		{[]string{"job", "checkpoints", "doubled", "--epoch", "-1"}, 1, "--epoch must not be negative"},
		{[]string{"pipeline", "rescale", "doubled"}, 1, "--parallelism is required"},
		{[]string{"pipeline", "stop", "doubled", "--mode", "gently"}, 1, `--mode "gently": must be one of checkpoint, graceful, immediate, force`},
		{[]string{"pipeline", "list", "-o", "xml"}, 1, `invalid argument "xml" for "-o, --output" flag: must be one of table, json, yaml`},
		{[]string{"pipeline", "list", "extra"}, 1, "runnel pipeline list takes no arguments, got 1"},
		{[]string{"pipeline", "get"}, 1, "runnel pipeline get takes one PIPELINE (id or name), got 0 arguments"},
		{[]string{"pipeline", "frobnicate"}, 1, `unknown command "frobnicate" for "runnel pipeline"`},
		{[]string{"frobnicate"}, 1, `unknown command "frobnicate" for "runnel"`},
		{[]string{"preview", "-f", good, "--limit", "-1"}, 1, "--limit must not be negative"},
		{[]string{"pipeline", "list", "--endpoint", "ftp://host"}, 1, "--endpoint: endpoint \"ftp://host\": scheme must be http or https"},
		{[]string{"pipeline", "list", "--endpoint", down}, 2, "cannot reach Runnel at " + down + ": dial tcp"},
		{[]string{"validate", "-f", good, "--endpoint", down}, 2, "cannot reach Runnel at " + down},
		{[]string{"preview", "-f", good, "--endpoint", down}, 2, "cannot reach Runnel at " + down},
		{[]string{"job", "list", "--endpoint", down}, 2, "connection refused"},
	}
	for _, c := range cases {
		t.Run(strings.Join(c.args, " "), func(t *testing.T) {
			r := e.run(c.args...)
			if r.code != c.code || !strings.Contains(r.err, c.want) {
				t.Fatalf("want exit %d and stderr with %q, got %s", c.code, c.want, r)
			}
		})
	}
	// Nothing the bad commands did created a pipeline.
	if r := e.must("pipeline", "list", "-o", "json"); strings.Count(r.out, `"id": "pl_`) != 1 {
		t.Fatalf("pipelines after bad input: %s", r)
	}
}

func TestEndpointFromEnvironment(t *testing.T) {
	e := newEnv(t)
	t.Setenv(endpointEnv, e.cl.URL())
	ctx := ctxTimeout(t, time.Minute)
	if r := runCLI(ctx, "", "", "pipeline", "list"); r.code != 0 || !strings.Contains(r.out, "No pipelines yet") {
		t.Fatalf("RUNNEL_ENDPOINT: %s", r)
	}
	// The flag wins over the environment.
	t.Setenv(endpointEnv, downEndpoint(t))
	if r := runCLI(ctx, e.cl.URL(), "", "pipeline", "list"); r.code != 0 {
		t.Fatalf("--endpoint over RUNNEL_ENDPOINT: %s", r)
	}
	if r := runCLI(ctx, "", "", "job", "list"); r.code != 2 {
		t.Fatalf("RUNNEL_ENDPOINT of a down server: %s", r)
	}
}

func TestHelpAndCompletion(t *testing.T) {
	ctx := ctxTimeout(t, time.Minute)
	for _, args := range [][]string{
		{"--help"}, {"pipeline", "--help"}, {"pipeline", "create", "--help"}, {"pipeline", "stop", "--help"},
		{"job", "checkpoints", "--help"}, {"job", "errors", "--help"}, {"preview", "--help"}, {"validate", "--help"},
	} {
		r := runCLI(ctx, "", "", args...)
		if r.code != 0 || !strings.Contains(r.out, "Examples:") {
			t.Errorf("%v: %s", args, r)
		}
	}
	r := runCLI(ctx, "", "", "pipeline")
	if r.code != 0 || !strings.Contains(r.out, "Available Commands:") || !strings.Contains(r.out, "rescale") {
		t.Fatalf("bare group: %s", r)
	}
	for _, shell := range []string{"bash", "zsh", "fish", "powershell"} {
		if r := runCLI(ctx, "", "", "completion", shell); r.code != 0 || len(r.out) < 1000 {
			t.Errorf("completion %s: exit %d, %d bytes", shell, r.code, len(r.out))
		}
	}
	// Dynamic completion of flags and pipeline names.
	r = runCLI(ctx, "", "", "__complete", "pipeline", "list", "-o", "")
	if !strings.Contains(r.out, "table\njson\nyaml\n") {
		t.Fatalf("--output completion: %s", r)
	}
	e := newEnv(t)
	e.must("pipeline", "create", "--name", "doubled", "-f", e.file("d.sql", doubledSQL))
	r = runCLI(ctx, "", "", "__complete", "pipeline", "stop", "--endpoint", e.cl.URL(), "")
	if !strings.Contains(r.out, "doubled\tpl_") {
		t.Fatalf("pipeline name completion: %s", r)
	}
}
