package controller

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/runnel-dev/runnel/internal/engine"
	"github.com/runnel-dev/runnel/internal/lifecycle"
	"github.com/runnel-dev/runnel/internal/metrics"
	"github.com/runnel-dev/runnel/internal/output"
	"github.com/runnel-dev/runnel/internal/sql"
	"github.com/runnel-dev/runnel/internal/store"
	"github.com/runnel-dev/runnel/internal/store/sqlite"
)

type nopRunner struct{}

func (nopRunner) Start(context.Context, *engine.Program, engine.RunOptions) (engine.Execution, error) {
	return nil, errors.New("nop runner starts nothing")
}

// faultRunner runs programs on the real engine and lets a test make the
// current execution fail, as a crashing operator would.
type faultRunner struct {
	inner engine.Runner

	mu       sync.Mutex
	current  *faultExec
	starts   int
	startErr error
	// startGate, if set, holds every Start until it is closed.
	startGate chan struct{}
}

type faultExec struct {
	engine.Execution
	done     chan struct{}
	once     sync.Once
	mu       sync.Mutex
	injected error
}

func (r *faultRunner) Start(ctx context.Context, p *engine.Program, opts engine.RunOptions) (engine.Execution, error) {
	r.mu.Lock()
	gate := r.startGate
	r.mu.Unlock()
	if gate != nil {
		<-gate
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.starts++
	if r.startErr != nil {
		return nil, r.startErr
	}
	inner, err := r.inner.Start(ctx, p, opts)
	if err != nil {
		return nil, err
	}
	fe := &faultExec{Execution: inner, done: make(chan struct{})}
	go func() {
		<-inner.Done()
		fe.once.Do(func() { close(fe.done) })
	}()
	r.current = fe
	return fe, nil
}

func (r *faultRunner) startCount() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.starts
}

// crash makes the running execution end with a task error.
func (r *faultRunner) crash(t *testing.T, msg string) {
	t.Helper()
	r.mu.Lock()
	fe := r.current
	r.mu.Unlock()
	if fe == nil {
		t.Fatal("nothing running to crash")
	}
	select {
	case <-fe.Execution.Done():
		t.Fatal("the execution ended on its own before the injected crash; the test input is too short")
	default:
	}
	// Record the failure before the execution ends so that whoever sees
	// it end also sees why.
	fe.mu.Lock()
	fe.injected = &engine.TaskError{OperatorID: "crashing_op", Subtask: 0, Err: errors.New(msg)}
	fe.mu.Unlock()
	fe.Execution.Stop(engine.StopImmediate)
	<-fe.Execution.Done()
	fe.once.Do(func() { close(fe.done) })
}

func (f *faultExec) Done() <-chan struct{} { return f.done }

func (f *faultExec) Err() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.injected != nil {
		return f.injected
	}
	return f.Execution.Err()
}

type harness struct {
	t      *testing.T
	store  store.Store
	runner *faultRunner
	hub    *output.Hub
	cfg    Config
	ctrl   *Controller
	cancel context.CancelFunc
	done   chan error
}

func newHarness(t *testing.T, tweak func(*Config)) *harness {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, t.TempDir()+"/runnel.db")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	h := &harness{t: t, store: st, runner: &faultRunner{inner: engine.NewRunner()}, hub: output.NewHub(32)}
	h.cfg = Config{
		Store: st, Runner: h.runner, Hub: h.hub,
		Logger:         testLogger(),
		PollInterval:   20 * time.Millisecond,
		InitialBackoff: 10 * time.Millisecond,
		MaxBackoff:     40 * time.Millisecond,
		StopTimeout:    5 * time.Second,
	}
	h.cfg.OnTransition = observed.add
	if tweak != nil {
		tweak(&h.cfg)
	}
	h.start()
	t.Cleanup(h.stop)
	return h
}

func (h *harness) start() {
	ctrl, err := New(h.cfg)
	if err != nil {
		h.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	h.ctrl, h.cancel, h.done = ctrl, cancel, make(chan error, 1)
	go func() { h.done <- ctrl.Run(ctx) }()
}

func (h *harness) stop() {
	if h.cancel == nil {
		return
	}
	h.cancel()
	select {
	case err := <-h.done:
		if err != nil {
			h.t.Errorf("controller: %v", err)
		}
	case <-time.After(10 * time.Second):
		h.t.Error("controller did not stop")
	}
	h.cancel = nil
}

const unboundedSQL = `CREATE TABLE impulse WITH (connector = 'impulse', event_rate = '1000');
CREATE TABLE sink WITH (connector = 'blackhole');
INSERT INTO sink SELECT counter * 2 AS doubled FROM impulse WHERE counter % 2 = 0;`

func (h *harness) create(query string, preview bool, ttl time.Duration) store.Pipeline {
	h.t.Helper()
	if _, err := sql.Plan(query, sql.Options{Parallelism: 1, Preview: preview}); err != nil {
		h.t.Fatalf("plan: %v", err)
	}
	now := time.Now().UTC().Truncate(time.Microsecond)
	p := store.Pipeline{
		OrgID: store.DefaultOrg, ID: store.NewID("pl"), Name: "test", Query: query,
		Preview: preview, Parallelism: 1, Graph: []byte(`{"nodes":[],"edges":[]}`), CreatedAt: now,
		Job: store.Job{
			OrgID: store.DefaultOrg, ID: store.NewID("job"), CreatedAt: now,
			Config: store.JobConfig{Stop: lifecycle.StopNone, CheckpointInterval: 10 * time.Second, RestartMode: store.RestartSafe, TTL: ttl, UpdatedAt: now},
			Status: store.JobStatus{State: lifecycle.Created},
		},
	}
	p.Job.PipelineID = p.ID
	if err := h.store.CreatePipeline(context.Background(), p, 0); err != nil {
		h.t.Fatal(err)
	}
	return p
}

func (h *harness) job(p store.Pipeline) store.Job {
	h.t.Helper()
	j, err := h.store.GetJob(context.Background(), store.DefaultOrg, p.ID, p.Job.ID)
	if err != nil {
		h.t.Fatal(err)
	}
	return j
}

// waitFor polls the stored status until cond holds, recording every state
// seen on the way.
func (h *harness) waitFor(p store.Pipeline, what string, cond func(store.Job) bool) store.Job {
	h.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	var seen []lifecycle.State
	for {
		j := h.job(p)
		if len(seen) == 0 || seen[len(seen)-1] != j.Status.State {
			seen = append(seen, j.Status.State)
		}
		if cond(j) {
			return j
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("timed out waiting for %s; states seen %v; failure %+v", what, seen, j.Status.Failure)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (h *harness) waitState(p store.Pipeline, s lifecycle.State) store.Job {
	h.t.Helper()
	return h.waitFor(p, string(s), func(j store.Job) bool { return j.Status.State == s })
}

func (h *harness) patch(p store.Pipeline, patch store.ConfigPatch) {
	h.t.Helper()
	if _, err := h.store.UpdateJobConfig(context.Background(), store.DefaultOrg, p.ID, patch, 0); err != nil {
		h.t.Fatal(err)
	}
}

func stopMode(m lifecycle.StopMode) store.ConfigPatch { return store.ConfigPatch{Stop: &m} }

func TestRunStopStartLifecycle(t *testing.T) {
	h := newHarness(t, nil)
	p := h.create(unboundedSQL, false, 0)
	j := h.waitState(p, lifecycle.Running)
	if j.Status.RunID != 1 || j.Status.StartTime == nil || j.Status.FinishTime != nil || j.Status.Tasks == nil || *j.Status.Tasks < 1 {
		t.Fatalf("running status %+v", j.Status)
	}
	firstStart := *j.Status.StartTime

	h.patch(p, stopMode(lifecycle.StopCheckpoint))
	j = h.waitState(p, lifecycle.Stopped)
	if j.Status.FinishTime == nil {
		t.Fatal("stopped job has no finish time")
	}
	if _, ok := h.ctrl.State(p.Job.ID); ok {
		// The machine rests once the job settles; give it a moment.
		time.Sleep(100 * time.Millisecond)
	}

	h.patch(p, stopMode(lifecycle.StopNone))
	j = h.waitFor(p, "running again", func(j store.Job) bool { return j.Status.State == lifecycle.Running && j.Status.RunID == 2 })
	if j.Status.FinishTime != nil || !j.Status.StartTime.After(firstStart) {
		t.Fatalf("restarted job times %+v", j.Status)
	}

	for _, mode := range []lifecycle.StopMode{lifecycle.StopGraceful, lifecycle.StopImmediate, lifecycle.StopForce} {
		h.patch(p, stopMode(mode))
		h.waitState(p, lifecycle.Stopped)
		h.patch(p, stopMode(lifecycle.StopNone))
		h.waitState(p, lifecycle.Running)
	}
}

func TestBoundedSourceFinishes(t *testing.T) {
	h := newHarness(t, nil)
	p := h.create(`CREATE TABLE impulse WITH (connector = 'impulse', event_rate = '0', message_count = '500');
CREATE TABLE sink WITH (connector = 'blackhole');
INSERT INTO sink SELECT counter FROM impulse;`, false, 0)
	j := h.waitState(p, lifecycle.Finished)
	if j.Status.FinishTime == nil || j.Status.Failure != nil {
		t.Fatalf("finished status %+v", j.Status)
	}
	// A finished job ignores a start request.
	h.patch(p, stopMode(lifecycle.StopCheckpoint))
	h.patch(p, stopMode(lifecycle.StopNone))
	time.Sleep(200 * time.Millisecond)
	if s := h.job(p).Status.State; s != lifecycle.Finished {
		t.Fatalf("finished job moved to %s", s)
	}
}

func TestRestartRunningJob(t *testing.T) {
	for _, mode := range []store.RestartMode{store.RestartSafe, store.RestartForce} {
		t.Run(string(mode), func(t *testing.T) {
			h := newHarness(t, nil)
			p := h.create(unboundedSQL, false, 0)
			h.waitState(p, lifecycle.Running)
			if _, err := h.store.RequestRestart(context.Background(), store.DefaultOrg, p.ID, mode, 0); err != nil {
				t.Fatal(err)
			}
			j := h.waitFor(p, "run 2", func(j store.Job) bool { return j.Status.RunID == 2 && j.Status.State == lifecycle.Running })
			if j.Status.RestartNonce != 1 {
				t.Fatalf("restart nonce not acknowledged: %+v", j.Status)
			}
		})
	}
}

func TestRescale(t *testing.T) {
	h := newHarness(t, nil)
	p := h.create(unboundedSQL, false, 0)
	j := h.waitState(p, lifecycle.Running)
	before := *j.Status.Tasks
	prog, err := sql.Plan(p.Query, sql.Options{Parallelism: 1})
	if err != nil {
		t.Fatal(err)
	}
	ov := map[int]int{}
	for _, n := range prog.View().Nodes {
		ov[n.NodeID] = 3
	}
	h.patch(p, store.ConfigPatch{ParallelismOverrides: ov})
	j = h.waitFor(p, "rescaled", func(j store.Job) bool {
		return j.Status.State == lifecycle.Running && j.Status.Tasks != nil && *j.Status.Tasks == 3*before
	})
	if j.Status.RunID != 2 {
		t.Fatalf("rescale should reschedule once: run %d", j.Status.RunID)
	}
}

func TestRecoveryAndExhaustedRetries(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.AllowedRestarts = 2 })
	p := h.create(unboundedSQL, false, 0)
	h.waitState(p, lifecycle.Running)

	h.runner.crash(t, "boom 1")
	j := h.waitFor(p, "recovered", func(j store.Job) bool { return j.Status.State == lifecycle.Running && j.Status.RunID == 2 })
	if j.Status.Restarts != 1 {
		t.Fatalf("restarts = %d, want 1", j.Status.Restarts)
	}
	msgs, _, err := h.store.ListLogMessages(context.Background(), store.DefaultOrg, p.Job.ID, store.LevelError, store.Page{Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 1 || msgs[0].Message != "task failed" || msgs[0].OperatorID == nil || *msgs[0].OperatorID != "crashing_op" || !strings.Contains(msgs[0].Details, "boom 1") {
		t.Fatalf("log messages %+v", msgs)
	}

	h.runner.crash(t, "boom 2")
	h.waitFor(p, "run 3", func(j store.Job) bool { return j.Status.State == lifecycle.Running && j.Status.RunID == 3 })
	h.runner.crash(t, "boom 3")
	j = h.waitState(p, lifecycle.Failed)
	if j.Status.Failure == nil || !strings.Contains(j.Status.Failure.Error, "Exhausted retries") || !strings.Contains(j.Status.Failure.Error, "boom 3") {
		t.Fatalf("failure %+v", j.Status.Failure)
	}

	// Failed stays failed on start; a restart request brings it back.
	h.patch(p, stopMode(lifecycle.StopNone))
	time.Sleep(100 * time.Millisecond)
	if s := h.job(p).Status.State; s != lifecycle.Failed {
		t.Fatalf("start moved a failed job to %s", s)
	}
	if _, err := h.store.RequestRestart(context.Background(), store.DefaultOrg, p.ID, store.RestartSafe, 0); err != nil {
		t.Fatal(err)
	}
	j = h.waitState(p, lifecycle.Running)
	if j.Status.Failure != nil || j.Status.Restarts != 0 {
		t.Fatalf("restarted job kept its failure: %+v", j.Status)
	}
}

func TestSchedulingFailureRecovers(t *testing.T) {
	h := newHarness(t, nil)
	h.runner.mu.Lock()
	h.runner.startErr = errors.New("no slots")
	h.runner.mu.Unlock()
	p := h.create(unboundedSQL, false, 0)
	h.waitFor(p, "a recovery", func(j store.Job) bool { return j.Status.Restarts >= 1 })
	h.runner.mu.Lock()
	h.runner.startErr = nil
	h.runner.mu.Unlock()
	h.waitState(p, lifecycle.Running)
}

func TestPlanFailureFailsJob(t *testing.T) {
	h := newHarness(t, nil)
	p := h.create(unboundedSQL, false, 0)
	// Make the stored query unplannable behind the API's back.
	h.waitState(p, lifecycle.Running)
	h.patch(p, stopMode(lifecycle.StopImmediate))
	h.waitState(p, lifecycle.Stopped)
	h.stop()
	bad := p
	bad.ID, bad.Job.ID = store.NewID("pl"), store.NewID("job")
	bad.Job.PipelineID = bad.ID
	bad.Query = "SELECT nope FROM nowhere"
	if err := h.store.CreatePipeline(context.Background(), bad, 0); err != nil {
		t.Fatal(err)
	}
	h.start()
	j := h.waitState(bad, lifecycle.Failed)
	if j.Status.Failure == nil || j.Status.Failure.Domain != store.DomainUser || !strings.Contains(j.Status.Failure.Error, "Failed to plan query") {
		t.Fatalf("failure %+v", j.Status.Failure)
	}
	msgs, _, _ := h.store.ListLogMessages(context.Background(), store.DefaultOrg, bad.Job.ID, store.LevelError, store.Page{Limit: 10})
	if len(msgs) != 1 || msgs[0].Message != "job failed" {
		t.Fatalf("log messages %+v", msgs)
	}
}

const previewSQL = `CREATE TABLE impulse WITH (connector = 'impulse', event_rate = '200');
SELECT counter, counter % 3 AS bucket FROM impulse;`

func TestPreviewOutputAndTTL(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.PreviewRetention = 300 * time.Millisecond })
	p := h.create(previewSQL, true, 700*time.Millisecond)
	h.waitState(p, lifecycle.Running)

	s, err := h.ctrl.SubscribeOutput(context.Background(), p.Job.ID)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	d, err := s.Recv(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(d.Batch, `"bucket"`) || len(d.Timestamps) == 0 {
		t.Fatalf("output %+v", d)
	}
	// The TTL stops the preview, which ends the stream…
	for {
		if _, err := s.Recv(ctx); err != nil {
			if !errors.Is(err, io.EOF) {
				t.Fatalf("stream ended with %v, want EOF", err)
			}
			break
		}
	}
	h.waitState(p, lifecycle.Stopped)
	if _, err := h.ctrl.SubscribeOutput(context.Background(), p.Job.ID); !errors.Is(err, output.ErrNotRunning) {
		t.Fatalf("subscribe after stop: %v", err)
	}
	// …and the retention then removes it, while a start never revives it.
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, err := h.store.GetPipeline(context.Background(), store.DefaultOrg, p.ID)
		if errors.Is(err, store.ErrNotFound) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("preview not removed: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestPreviewRuntimeFailureIsFatal(t *testing.T) {
	h := newHarness(t, nil)
	p := h.create(previewSQL, true, time.Minute)
	h.waitState(p, lifecycle.Running)
	h.runner.crash(t, "bad row")
	j := h.waitState(p, lifecycle.Failed)
	if j.Status.Failure == nil || !strings.Contains(j.Status.Failure.Error, "bad row") || j.Status.Restarts != 0 {
		t.Fatalf("status %+v failure %+v", j.Status, j.Status.Failure)
	}
	if h.runner.startCount() != 1 {
		t.Fatalf("preview was retried: %d starts", h.runner.startCount())
	}
}

func TestControllerRestartMidJob(t *testing.T) {
	h := newHarness(t, nil)
	p := h.create(unboundedSQL, false, 0)
	stopped := h.create(unboundedSQL, false, 0)
	h.waitState(p, lifecycle.Running)
	h.waitState(stopped, lifecycle.Running)
	h.patch(stopped, stopMode(lifecycle.StopCheckpoint))
	h.waitState(stopped, lifecycle.Stopped)

	h.stop() // the controller dies; the store still says Running
	if s := h.job(p).Status.State; s != lifecycle.Running {
		t.Fatalf("state after controller stop: %s", s)
	}
	starts := h.runner.startCount()
	h.start()
	j := h.waitFor(p, "resumed", func(j store.Job) bool { return j.Status.State == lifecycle.Running && j.Status.RunID == 2 })
	if h.runner.startCount() != starts+1 {
		t.Fatalf("resume started %d executions", h.runner.startCount()-starts)
	}
	if j.Status.Failure != nil {
		t.Fatalf("resume failed: %+v", j.Status.Failure)
	}
	time.Sleep(100 * time.Millisecond)
	if s := h.job(stopped).Status.State; s != lifecycle.Stopped {
		t.Fatalf("stopped job became %s after controller restart", s)
	}
}

func TestControllerResumesInterruptedStop(t *testing.T) {
	h := newHarness(t, nil)
	h.stop()
	p := h.create(unboundedSQL, false, 0)
	// A controller died half-way through stopping this job.
	now := time.Now().UTC()
	err := h.store.UpdateJobStatus(context.Background(), p.Job.ID, store.JobStatus{State: lifecycle.CheckpointStopping, RunID: 4, StartTime: &now})
	if err != nil {
		t.Fatal(err)
	}
	h.patch(p, stopMode(lifecycle.StopCheckpoint))
	h.start()
	j := h.waitState(p, lifecycle.Stopped)
	if j.Status.FinishTime == nil || j.Status.RunID != 4 {
		t.Fatalf("status %+v", j.Status)
	}
}

func TestMetricsOfRunningJob(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.MetricsInterval = 50 * time.Millisecond })
	p := h.create(unboundedSQL, false, 0)
	h.waitState(p, lifecycle.Running)
	deadline := time.Now().Add(10 * time.Second)
	for {
		groups, err := h.ctrl.JobMetrics(context.Background(), p.Job.ID)
		if err != nil {
			t.Fatal(err)
		}
		if sent := total(groups, metrics.MessagesSent); sent > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no message rates: %+v", groups)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if g, _ := h.ctrl.JobMetrics(context.Background(), "job_unknown"); len(g) != 0 {
		t.Fatalf("unknown job metrics %+v", g)
	}
}

func total(groups []metrics.OperatorGroup, name metrics.Name) float64 {
	var sum float64
	for _, g := range groups {
		for _, mg := range g.MetricGroups {
			if mg.Name != name {
				continue
			}
			for _, s := range mg.Subtasks {
				for _, pt := range s.Metrics {
					sum += pt.Value
				}
			}
		}
	}
	return sum
}

func TestNudgeSyncsWithoutWaitingForPoll(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.PollInterval = time.Hour })
	time.Sleep(50 * time.Millisecond) // let the first sync pass with nothing to do
	p := h.create(unboundedSQL, false, 0)
	time.Sleep(100 * time.Millisecond)
	if s := h.job(p).Status.State; s != lifecycle.Created {
		t.Fatalf("job moved to %s without a sync", s)
	}
	h.ctrl.Nudge()
	h.waitState(p, lifecycle.Running)
}

// testLogger discards the controller's logs unless RUNNEL_TEST_LOG is set.
func testLogger() *slog.Logger {
	if os.Getenv("RUNNEL_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// staleStore answers AllPipelines with an older listing when told to, as a
// listing read just before a machine's last write would be.
type staleStore struct {
	store.Store
	mu    sync.Mutex
	stale []store.Pipeline
	serve bool
}

func (s *staleStore) AllPipelines(ctx context.Context) ([]store.Pipeline, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.serve && s.stale != nil {
		return s.stale, nil
	}
	ps, err := s.Store.AllPipelines(ctx)
	if err == nil && !s.serve {
		s.stale = ps
	}
	return ps, err
}

// TestStaleListingDoesNotRestartFinishedJob: a listing taken while a job
// ran, read after its machine finished it, must not start it again.
func TestStaleListingDoesNotRestartFinishedJob(t *testing.T) {
	var ss *staleStore
	h := newHarness(t, func(c *Config) {
		ss = &staleStore{Store: c.Store}
		c.Store = ss
	})
	p := h.create(`CREATE TABLE impulse WITH (connector = 'impulse', event_rate = '2000', message_count = '600');
CREATE TABLE sink WITH (connector = 'blackhole');
INSERT INTO sink SELECT counter FROM impulse;`, false, 0)
	h.waitState(p, lifecycle.Running)
	time.Sleep(50 * time.Millisecond) // a listing that says Running is kept
	ss.mu.Lock()
	ss.serve = true
	ss.mu.Unlock()
	h.waitState(p, lifecycle.Finished)
	time.Sleep(300 * time.Millisecond) // many polls of the stale listing
	if n := h.runner.startCount(); n != 1 {
		t.Fatalf("the finished job was started %d times", n)
	}
	if s, ok := h.ctrl.State(p.Job.ID); ok {
		t.Fatalf("a machine runs the finished job again, in %s", s)
	}
}
