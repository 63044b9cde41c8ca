package scheduler_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/runnel-dev/runnel/internal/engine"
	"github.com/runnel-dev/runnel/internal/output"
	pb "github.com/runnel-dev/runnel/internal/rpc/runnelpb"
	"github.com/runnel-dev/runnel/internal/scheduler"
	"github.com/runnel-dev/runnel/internal/sql"
	"github.com/runnel-dev/runnel/internal/state"
	"github.com/runnel-dev/runnel/internal/worker"
)

// These tests run scheduler.Runner against workers that are worker.Run
// goroutines of the test process, started by a fake Scheduler, so that the
// whole protocol (registration, placement, exchange, heartbeats,
// checkpoints, preview output) runs over real gRPC without processes.

const (
	heartbeatInterval = 50 * time.Millisecond
	heartbeatTimeout  = 500 * time.Millisecond
)

var quiet = slog.New(slog.DiscardHandler)

// fakeScheduler starts workers as goroutines, each with its own context,
// and records what it was asked.
type fakeScheduler struct {
	// startNothing makes StartWorkers start no worker at all.
	startNothing bool

	mu      sync.Mutex
	starts  []scheduler.StartRequest
	stops   []stopCall
	workers map[string]*fakeWorker
	exits   func(workerID string, err error) // what the runner watches
}

func (s *fakeScheduler) WatchExits(f func(workerID string, err error)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.exits = f
}

// exited reports a worker's exit as a scheduler that watches its
// workers would.
func (s *fakeScheduler) exited(t *testing.T, id string, err error) {
	t.Helper()
	s.mu.Lock()
	f := s.exits
	s.mu.Unlock()
	if f == nil {
		t.Fatal("the runner does not watch the scheduler's worker exits")
	}
	f(id, err)
}

type stopCall struct {
	job string
	run int64
}

type fakeWorker struct {
	cancel context.CancelFunc
	done   chan struct{}
}

func (s *fakeScheduler) StartWorkers(_ context.Context, req scheduler.StartRequest) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.starts = append(s.starts, req)
	if s.startNothing {
		return nil
	}
	if s.workers == nil {
		s.workers = map[string]*fakeWorker{}
	}
	for i := range req.Workers {
		id := scheduler.WorkerID(req.JobID, req.RunID, i)
		// Not the request's context: a worker outlives StartWorkers.
		ctx, cancel := context.WithCancel(context.Background())
		fw := &fakeWorker{cancel: cancel, done: make(chan struct{})}
		s.workers[id] = fw
		go func() {
			defer close(fw.done)
			_ = worker.Run(ctx, worker.Config{
				ControllerAddr:   req.ControllerAddr,
				JobID:            req.JobID,
				RunID:            req.RunID,
				WorkerID:         id,
				Slots:            req.Slots,
				HeartbeatTimeout: 2 * time.Second,
				DialOptions:      []grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())},
				Logger:           quiet,
			})
		}()
	}
	return nil
}

func (s *fakeScheduler) StopWorkers(ctx context.Context, jobID string, runID int64) error {
	prefix := jobID + "-"
	if runID != 0 {
		prefix = fmt.Sprintf("%s-%d-", jobID, runID)
	}
	s.mu.Lock()
	s.stops = append(s.stops, stopCall{jobID, runID})
	var stopping []*fakeWorker
	for id, w := range s.workers {
		if strings.HasPrefix(id, prefix) {
			w.cancel()
			stopping = append(stopping, w)
			delete(s.workers, id)
		}
	}
	s.mu.Unlock()
	for _, w := range stopping {
		select {
		case <-w.done:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// kill cancels one worker's context, as if its process died.
func (s *fakeScheduler) kill(id string) {
	s.mu.Lock()
	w := s.workers[id]
	s.mu.Unlock()
	w.cancel()
	<-w.done
}

func (s *fakeScheduler) stopped(job string, run int64) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Contains(s.stops, stopCall{job, run})
}

func (s *fakeScheduler) started() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.starts)
}

// running is how many workers were started and not stopped.
func (s *fakeScheduler) running() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.workers)
}

func (s *fakeScheduler) request(i int) scheduler.StartRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.starts[i]
}

// stopAll ends whatever workers are left when a test ends.
func (s *fakeScheduler) stopAll() {
	s.mu.Lock()
	ws := s.workers
	s.workers = nil
	s.mu.Unlock()
	for _, w := range ws {
		w.cancel()
		<-w.done
	}
}

// newRunner serves a Runner's control service on a loopback port and
// returns the runner with its fake scheduler.
func newRunner(t *testing.T, sched *fakeScheduler, edit func(*scheduler.RunnerConfig)) *scheduler.Runner {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg := scheduler.RunnerConfig{
		Scheduler:         sched,
		ControllerAddr:    ln.Addr().String(),
		CheckpointURL:     "file://" + t.TempDir(),
		Slots:             2,
		StartupTimeout:    5 * time.Second,
		HeartbeatInterval: heartbeatInterval,
		HeartbeatTimeout:  heartbeatTimeout,
		DialOptions:       []grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())},
		Logger:            quiet,
	}
	if edit != nil {
		edit(&cfg)
	}
	r, err := scheduler.NewRunner(cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	pb.RegisterWorkerControlServiceServer(srv, r.ControlService())
	go func() { _ = srv.Serve(ln) }()
	// Cleanups run last-in first-out: workers go before the server.
	t.Cleanup(srv.Stop)
	t.Cleanup(sched.stopAll)
	return r
}

// program plans q as the controller would and returns the plan source
// workers plan it from again.
func program(t *testing.T, q string, par int, preview bool) (*engine.Program, engine.PlanSource) {
	t.Helper()
	src := engine.PlanSource{Query: q, Parallelism: par, Preview: preview}
	p, err := sql.Plan(q, sql.Options{Parallelism: par, Preview: preview})
	if err != nil {
		t.Fatalf("plan: %v", err)
	}
	return p, src
}

// memOutput collects preview output.
type memOutput struct {
	mu sync.Mutex
	ds []output.Data
}

func (m *memOutput) Send(_ context.Context, d output.Data) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.ds = append(m.ds, d)
	return nil
}

// counters decodes the 'counter' column of every row, sorted.
func (m *memOutput) counters(t *testing.T) []int64 {
	t.Helper()
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []int64
	for _, d := range m.ds {
		var rows []struct{ Counter int64 }
		if err := json.Unmarshal([]byte(d.Batch), &rows); err != nil {
			t.Fatalf("preview batch %q: %v", d.Batch, err)
		}
		for _, r := range rows {
			out = append(out, r.Counter)
		}
	}
	slices.Sort(out)
	return out
}

func waitDone(t *testing.T, x engine.Execution, d time.Duration) {
	t.Helper()
	select {
	case <-x.Done():
	case <-time.After(d):
		x.Stop(engine.StopImmediate)
		t.Fatalf("run did not end within %s", d)
	}
}

func start(t *testing.T, r engine.Runner, p *engine.Program, opts engine.RunOptions) engine.Execution {
	t.Helper()
	x, err := r.Start(t.Context(), p, opts)
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	t.Cleanup(func() {
		x.Stop(engine.StopImmediate)
		<-x.Done()
	})
	return x
}

// A shuffle (GROUP BY) and the preview sink of parallelism 1 make rows
// cross workers.
const boundedQuery = `
CREATE TABLE impulse WITH (connector = 'impulse', event_rate = '0', message_count = '3000');
SELECT counter % 7 AS k, count(*) AS n, sum(counter) AS s FROM impulse WHERE counter % 3 <> 1 GROUP BY counter % 7`

const unboundedQuery = `
CREATE TABLE impulse WITH (connector = 'impulse', event_rate = '200');
CREATE TABLE sink WITH (connector = 'blackhole');
INSERT INTO sink SELECT counter FROM impulse WHERE counter % 2 = 0`

func TestBoundedRunMatchesEmbedded(t *testing.T) {
	p, src := program(t, boundedQuery, 4, true)
	want := &memOutput{}
	x := start(t, engine.NewRunner(), p, engine.RunOptions{JobID: "embedded", RunID: 1, Output: want})
	waitDone(t, x, 5*time.Second)
	if err := x.Err(); err != nil || !x.Finished() {
		t.Fatalf("embedded run: Err = %v, Finished = %v", err, x.Finished())
	}

	sched := &fakeScheduler{}
	r := newRunner(t, sched, nil)
	got := &memOutput{}
	x = start(t, r, p, engine.RunOptions{JobID: "job", RunID: 1, Output: got, Plan: src})
	if x.Tasks() != p.Tasks() {
		t.Errorf("Tasks = %d, want %d", x.Tasks(), p.Tasks())
	}
	waitDone(t, x, 5*time.Second)
	if err := x.Err(); err != nil {
		t.Fatalf("Err = %v", err)
	}
	if !x.Finished() {
		t.Fatal("Finished = false for a bounded query")
	}
	if n := sched.request(0).Workers; n != 2 {
		t.Errorf("started %d workers for parallelism 4 with 2 slots, want 2", n)
	}
	if !sched.stopped("job", 1) {
		t.Error("the run's workers were not stopped once it ended")
	}
	// The updating aggregate's changelog depends on batching, which differs
	// between runs; its final rows (the last per key) do not.
	if w, g := final(t, want), final(t, got); len(w) != 7 || !slices.Equal(g, w) {
		t.Fatalf("final rows on workers:\n%v\nembedded:\n%v", g, w)
	}
}

// final folds a preview changelog into each key's last row.
func final(t *testing.T, m *memOutput) []string {
	t.Helper()
	last := map[int64]string{}
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, d := range m.ds {
		var rows []map[string]any
		if err := json.Unmarshal([]byte(d.Batch), &rows); err != nil {
			t.Fatal(err)
		}
		for _, r := range rows {
			k := int64(r["k"].(float64))
			if r["_retract"] == true {
				continue
			}
			last[k] = fmt.Sprint(r["k"], r["n"], r["s"])
		}
	}
	out := make([]string, 0, len(last))
	for _, v := range last {
		out = append(out, v)
	}
	slices.Sort(out)
	return out
}

// TestMetricsFromHeartbeats checks that the counters workers send with
// their heartbeats name every subtask once, and that a graceful stop of an
// unbounded run ends it without error and without finishing.
func TestMetricsFromHeartbeats(t *testing.T) {
	p, src := program(t, unboundedQuery, 4, false)
	sched := &fakeScheduler{}
	r := newRunner(t, sched, nil)
	x := start(t, r, p, engine.RunOptions{JobID: "job", RunID: 1, Plan: src})
	deadline := time.Now().Add(3 * time.Second)
	for len(x.Metrics()) < p.Tasks() && time.Now().Before(deadline) {
		time.Sleep(heartbeatInterval)
	}
	seen := map[engine.TaskAddr]bool{}
	for _, m := range x.Metrics() {
		a := engine.TaskAddr{NodeID: m.NodeID, Subtask: m.Subtask}
		if seen[a] {
			t.Errorf("subtask %v reported twice", a)
		}
		seen[a] = true
	}
	for _, n := range p.Nodes {
		for s := range n.Parallelism {
			if !seen[engine.TaskAddr{NodeID: n.ID, Subtask: s}] {
				t.Errorf("no metrics for subtask %d/%d", n.ID, s)
			}
		}
	}

	x.Stop(engine.StopGraceful)
	waitDone(t, x, 3*time.Second)
	if err := x.Err(); err != nil {
		t.Errorf("Err after a graceful stop = %v", err)
	}
	if x.Finished() {
		t.Error("Finished = true after stopping an unbounded run")
	}
	if !sched.stopped("job", 1) {
		t.Error("the run's workers were not stopped once it ended")
	}
}

func TestStopImmediate(t *testing.T) {
	p, src := program(t, unboundedQuery, 2, false)
	sched := &fakeScheduler{}
	r := newRunner(t, sched, nil)
	x := start(t, r, p, engine.RunOptions{JobID: "job", RunID: 1, Plan: src})
	x.Stop(engine.StopImmediate)
	waitDone(t, x, 2*time.Second)
	if err := x.Err(); err != nil {
		t.Errorf("Err after an immediate stop = %v", err)
	}
	if x.Finished() {
		t.Error("Finished = true after an immediate stop")
	}
	if !sched.stopped("job", 1) {
		t.Error("the run's workers were not stopped")
	}
}

// TestCheckpointRestore takes a final checkpoint halfway through a bounded
// impulse, then restores a second run from it: both runs together must
// emit every counter exactly once.
func TestCheckpointRestore(t *testing.T) {
	const q = `
CREATE TABLE impulse WITH (connector = 'impulse', event_rate = '2000', message_count = '3000');
SELECT counter FROM impulse`
	p, src := program(t, q, 2, true)
	dir := t.TempDir()
	st, err := state.Open(t.Context(), "file://"+dir)
	if err != nil {
		t.Fatal(err)
	}
	sched := &fakeScheduler{}
	r := newRunner(t, sched, func(c *scheduler.RunnerConfig) { c.CheckpointURL = "file://" + dir; c.Slots = 1 })

	var mu sync.Mutex
	reports := map[int64][]engine.CheckpointReport{}
	onReport := func(rep engine.CheckpointReport) {
		mu.Lock()
		reports[rep.Epoch] = append(reports[rep.Epoch], rep)
		mu.Unlock()
	}
	waitReports := func(epoch int64) {
		t.Helper()
		deadline := time.Now().Add(3 * time.Second)
		for {
			mu.Lock()
			n := len(reports[epoch])
			mu.Unlock()
			if n == p.Tasks() {
				return
			}
			if n > p.Tasks() || time.Now().After(deadline) {
				t.Fatalf("epoch %d: %d reports, want one from each of %d subtasks", epoch, n, p.Tasks())
			}
			time.Sleep(10 * time.Millisecond)
		}
	}

	first := &memOutput{}
	x := start(t, r, p, engine.RunOptions{JobID: "job", RunID: 1, Output: first, Plan: src,
		Checkpoints: &engine.CheckpointOptions{Store: st, OnReport: onReport}})
	time.Sleep(300 * time.Millisecond)
	if err := x.Checkpoint(1, true); err != nil {
		t.Fatal(err)
	}
	waitReports(1)
	if err := x.Commit(t.Context(), 1); err != nil {
		t.Fatalf("Commit: %v", err)
	}
	x.Stop(engine.StopImmediate)
	waitDone(t, x, 2*time.Second)
	if err := x.Err(); err != nil {
		t.Fatalf("first run: %v", err)
	}
	before := first.counters(t)
	if len(before) == 0 || len(before) >= 3000 {
		t.Fatalf("first run emitted %d rows before its checkpoint; the test needs some but not all", len(before))
	}

	second := &memOutput{}
	x = start(t, r, p, engine.RunOptions{JobID: "job", RunID: 2, Output: second, Plan: src,
		Checkpoints: &engine.CheckpointOptions{Store: st, Restore: 1, OnReport: onReport}})
	waitDone(t, x, 5*time.Second)
	if err := x.Err(); err != nil || !x.Finished() {
		t.Fatalf("restored run: Err = %v, Finished = %v", err, x.Finished())
	}
	all := append(before, second.counters(t)...)
	slices.Sort(all)
	for i, c := range all {
		if c != int64(i) {
			t.Fatalf("counters of both runs: at %d got %d (%d rows, want 0..2999 once each)", i, c, len(all))
		}
	}
	if len(all) != 3000 {
		t.Fatalf("both runs emitted %d counters, want 3000", len(all))
	}
}

// TestHeartbeatLoss kills one worker of an unbounded run without warning:
// the run must fail as an external error naming it once the heartbeat
// timeout passes, and the other worker must be removed.
func TestHeartbeatLoss(t *testing.T) {
	p, src := program(t, unboundedQuery, 2, false)
	sched := &fakeScheduler{}
	r := newRunner(t, sched, func(c *scheduler.RunnerConfig) { c.Slots = 1 })
	x := start(t, r, p, engine.RunOptions{JobID: "job", RunID: 1, Plan: src})
	lost := scheduler.WorkerID("job", 1, 1)
	sched.kill(lost)
	killed := time.Now()
	waitDone(t, x, heartbeatTimeout+time.Second)
	t.Logf("lost after %s", time.Since(killed).Round(time.Millisecond))
	var te *engine.TaskError
	if err := x.Err(); !errors.As(err, &te) || !strings.Contains(err.Error(), lost) {
		t.Fatalf("Err = %v, want a *engine.TaskError naming %s", err, lost)
	}
	if d := engine.DomainOf(x.Err()); d != engine.DomainExternal {
		t.Errorf("domain %q, want %q", d, engine.DomainExternal)
	}
	if x.Finished() {
		t.Error("Finished = true for a failed run")
	}
	if !sched.stopped("job", 1) || sched.running() != 0 {
		t.Errorf("the other worker was not stopped (%d still run)", sched.running())
	}
}

func TestWorkerExitedFailsAtOnce(t *testing.T) {
	p, src := program(t, unboundedQuery, 2, false)
	sched := &fakeScheduler{}
	// A long heartbeat timeout, so that only WorkerExited can end the run
	// in time.
	r := newRunner(t, sched, func(c *scheduler.RunnerConfig) { c.Slots = 1; c.HeartbeatTimeout = time.Minute })
	x := start(t, r, p, engine.RunOptions{JobID: "job", RunID: 1, Plan: src})
	id := scheduler.WorkerID("job", 1, 0)
	sched.exited(t, id, errors.New("signal: killed"))
	waitDone(t, x, time.Second)
	var te *engine.TaskError
	if err := x.Err(); !errors.As(err, &te) || !strings.Contains(err.Error(), id) || !strings.Contains(err.Error(), "signal: killed") {
		t.Fatalf("Err = %v, want a *engine.TaskError naming %s and why it exited", err, id)
	}
	if !sched.stopped("job", 1) {
		t.Error("the run's workers were not stopped")
	}
	// An unknown worker is ignored.
	sched.exited(t, "nobody", errors.New("exit status 1"))
}

func TestBadRegistration(t *testing.T) {
	sched := &fakeScheduler{startNothing: true}
	r := newRunner(t, sched, nil)
	svc := r.ControlService()
	register := func(job string, run int64, id string) error {
		_, err := svc.RegisterWorker(t.Context(), &pb.RegisterWorkerRequest{
			Worker: &pb.WorkerRef{JobId: job, RunId: run, WorkerId: id}, Address: "127.0.0.1:1", Slots: 2})
		return err
	}
	if err := register("job", 1, scheduler.WorkerID("job", 1, 0)); status.Code(err) != codes.FailedPrecondition {
		t.Errorf("registering for a run that does not exist: %v, want FailedPrecondition", err)
	}

	// A run of two workers that waits for them (none is started).
	p, src := program(t, unboundedQuery, 4, false)
	ctx, cancel := context.WithCancel(t.Context())
	started := make(chan error, 1)
	go func() {
		_, err := r.Start(ctx, p, engine.RunOptions{JobID: "job", RunID: 1, Plan: src})
		started <- err
	}()
	for sched.started() == 0 {
		time.Sleep(5 * time.Millisecond)
	}
	if err := register("job", 1, scheduler.WorkerID("job", 1, 2)); status.Code(err) != codes.InvalidArgument {
		t.Errorf("registering a worker id the run does not have: %v, want InvalidArgument", err)
	}
	if err := register("job", 1, scheduler.WorkerID("job", 2, 0)); status.Code(err) != codes.InvalidArgument {
		t.Errorf("registering a worker of another run: %v, want InvalidArgument", err)
	}
	if err := register("job", 1, scheduler.WorkerID("job", 1, 0)); err != nil {
		t.Errorf("registering worker 0: %v", err)
	}
	if err := register("job", 1, scheduler.WorkerID("job", 1, 0)); status.Code(err) != codes.AlreadyExists {
		t.Errorf("registering worker 0 again: %v, want AlreadyExists", err)
	}
	cancel()
	if err := <-started; !errors.Is(err, context.Canceled) {
		t.Errorf("Start = %v after its context was cancelled", err)
	}
	if !sched.stopped("job", 1) {
		t.Error("the workers of a run that did not start were not stopped")
	}
}

func TestStartupTimeout(t *testing.T) {
	sched := &fakeScheduler{startNothing: true}
	r := newRunner(t, sched, func(c *scheduler.RunnerConfig) { c.StartupTimeout = 200 * time.Millisecond })
	p, src := program(t, unboundedQuery, 2, false)
	t0 := time.Now()
	_, err := r.Start(t.Context(), p, engine.RunOptions{JobID: "job", RunID: 1, Plan: src})
	if err == nil || !strings.Contains(err.Error(), "200ms") {
		t.Fatalf("Start = %v, want an error naming the 200ms timeout", err)
	}
	if d := time.Since(t0); d > 2*time.Second {
		t.Errorf("Start took %s", d)
	}
	if !sched.stopped("job", 1) {
		t.Error("the workers of a run that did not start were not stopped")
	}
	// The run is forgotten: it can be started again.
	if _, err := r.ControlService().RegisterWorker(t.Context(), &pb.RegisterWorkerRequest{
		Worker: &pb.WorkerRef{JobId: "job", RunId: 1, WorkerId: scheduler.WorkerID("job", 1, 0)}, Address: "127.0.0.1:1"}); status.Code(err) != codes.FailedPrecondition {
		t.Errorf("registering with a run that timed out: %v, want FailedPrecondition", err)
	}
}

func TestFingerprintMismatch(t *testing.T) {
	p, _ := program(t, unboundedQuery, 2, false)
	// The workers plan another query than the one the program came from,
	// one without the filter, so that its chain differs.
	// Same shape, another predicate: the fingerprint covers expressions.
	other := strings.Replace(unboundedQuery, "counter % 2 = 0", "counter % 2 = 1", 1)
	sched := &fakeScheduler{}
	r := newRunner(t, sched, nil)
	_, err := r.Start(t.Context(), p, engine.RunOptions{JobID: "job", RunID: 1, Plan: engine.PlanSource{Query: other, Parallelism: 2}})
	if err == nil || !strings.Contains(err.Error(), "plans differently") {
		t.Fatalf("Start = %v, want a fingerprint mismatch", err)
	}
	if !sched.stopped("job", 1) {
		t.Error("the workers of a run that did not start were not stopped")
	}
}

// TestWorkerExitedBeforeRegistering: a worker process that dies at
// startup (a bad flag, an unreadable certificate) never registers; the
// run must fail at once rather than after the startup timeout.
func TestWorkerExitedBeforeRegistering(t *testing.T) {
	sched := &fakeScheduler{startNothing: true}
	r := newRunner(t, sched, func(c *scheduler.RunnerConfig) { c.StartupTimeout = time.Minute })
	p, src := program(t, unboundedQuery, 4, false)
	started := make(chan error, 1)
	go func() {
		_, err := r.Start(t.Context(), p, engine.RunOptions{JobID: "job", RunID: 1, Plan: src})
		started <- err
	}()
	for sched.started() == 0 {
		time.Sleep(5 * time.Millisecond)
	}
	id := scheduler.WorkerID("job", 1, 1)
	sched.exited(t, id, errors.New("exit status 2"))
	select {
	case err := <-started:
		if err == nil || !strings.Contains(err.Error(), id) || !strings.Contains(err.Error(), "exit status 2") {
			t.Fatalf("Start = %v, want an error naming %s and why it exited", err, id)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("Start still waits for a worker that exited")
	}
	if !sched.stopped("job", 1) {
		t.Error("the workers of a run that did not start were not stopped")
	}
}

// TestRestoreCorruptCheckpoint: workers that cannot read the checkpoint
// they are to start from make Start fail with a *engine.RestoreError, which
// the controller tells apart from other startup failures.
func TestRestoreCorruptCheckpoint(t *testing.T) {
	dir := t.TempDir()
	st, err := state.Open(t.Context(), "file://"+dir)
	if err != nil {
		t.Fatal(err)
	}
	sched := &fakeScheduler{}
	r := newRunner(t, sched, func(c *scheduler.RunnerConfig) { c.CheckpointURL = "file://" + dir })
	p, src := program(t, unboundedQuery, 2, false)
	reports := make(chan engine.CheckpointReport, 100)
	x := start(t, r, p, engine.RunOptions{JobID: "job", RunID: 1, Plan: src,
		Checkpoints: &engine.CheckpointOptions{Store: st, OnReport: func(rep engine.CheckpointReport) { reports <- rep }}})
	if err := x.Checkpoint(1, true); err != nil {
		t.Fatal(err)
	}
	for range p.Tasks() {
		select {
		case rep := <-reports:
			if rep.Err != nil {
				t.Fatal(rep.Err)
			}
		case <-time.After(3 * time.Second):
			t.Fatal("no checkpoint reports")
		}
	}
	x.Stop(engine.StopImmediate)
	waitDone(t, x, 2*time.Second)

	files := 0
	err = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		files++
		return os.WriteFile(path, []byte("not a checkpoint"), 0o600)
	})
	if err != nil || files == 0 {
		t.Fatalf("corrupting %d checkpoint files: %v", files, err)
	}
	_, err = r.Start(t.Context(), p, engine.RunOptions{JobID: "job", RunID: 2, Plan: src,
		Checkpoints: &engine.CheckpointOptions{Store: st, Restore: 1}})
	var re *engine.RestoreError
	if !errors.As(err, &re) || re.Epoch != 1 {
		t.Fatalf("Start = %v, want a *engine.RestoreError for epoch 1", err)
	}
	if !sched.stopped("job", 2) {
		t.Error("the workers of a run that did not start were not stopped")
	}
}
