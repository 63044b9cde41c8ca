package controller

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/runnel-dev/runnel/internal/lifecycle"
	"github.com/runnel-dev/runnel/internal/store"
)

// The tests here drive jobs through the transitions that only failures
// and badly timed requests take, so that every transition of the table is
// taken by some test (TestMain checks).

const boundedSQL = `CREATE TABLE impulse WITH (connector = 'impulse', event_rate = '2000', message_count = '400');
CREATE TABLE sink WITH (connector = 'blackhole');
INSERT INTO sink SELECT counter FROM impulse;`

func (h *harness) rescale(p store.Pipeline, par int) {
	h.t.Helper()
	overrides := map[int]int{}
	for _, n := range h.program(p).Nodes {
		overrides[n.ID] = par
	}
	h.patch(p, store.ConfigPatch{ParallelismOverrides: overrides})
}

func (h *harness) restart(p store.Pipeline, mode store.RestartMode) {
	h.t.Helper()
	if _, err := h.store.RequestRestart(context.Background(), store.DefaultOrg, p.ID, mode, 0); err != nil {
		h.t.Fatal(err)
	}
}

// TestInternalErrorInEveryState makes each state's handler fail, as an
// internal error would: the job goes Failing → Failed with the error.
func TestInternalErrorInEveryState(t *testing.T) {
	for _, tc := range []struct {
		state lifecycle.State
		query string
		drive func(h *harness, p store.Pipeline)
	}{
		{lifecycle.Created, unboundedSQL, nil},
		{lifecycle.Scheduling, unboundedSQL, nil},
		{lifecycle.Finishing, boundedSQL, nil},
		{lifecycle.Rescaling, unboundedSQL, func(h *harness, p store.Pipeline) { h.rescale(p, 2) }},
		{lifecycle.Restarting, unboundedSQL, func(h *harness, p store.Pipeline) { h.restart(p, store.RestartSafe) }},
		{lifecycle.CheckpointStopping, unboundedSQL, func(h *harness, p store.Pipeline) { h.patch(p, stopMode(lifecycle.StopCheckpoint)) }},
		{lifecycle.Stopping, unboundedSQL, func(h *harness, p store.Pipeline) { h.patch(p, stopMode(lifecycle.StopImmediate)) }},
	} {
		t.Run(string(tc.state), func(t *testing.T) {
			h, _ := checkpointHarness(t, func(c *Config) { c.failIn = tc.state })
			p := h.create(tc.query, false, 0)
			if tc.drive != nil {
				h.waitState(p, lifecycle.Running)
				tc.drive(h, p)
			}
			j := h.waitState(p, lifecycle.Failed)
			if j.Status.Failure == nil || j.Status.Failure.Error != "injected failure in "+string(tc.state) {
				t.Fatalf("failure %+v", j.Status.Failure)
			}
			// The machine ends once Failed is stored and handled.
			deadline := time.Now().Add(5 * time.Second)
			for {
				s, ok := h.ctrl.State(p.Job.ID)
				if !ok {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("a machine still runs the failed job, in %s", s)
				}
				time.Sleep(5 * time.Millisecond)
			}
		})
	}
}

// TestStopWhileScheduling stops a job while its tasks are starting.
func TestStopWhileScheduling(t *testing.T) {
	gate := make(chan struct{})
	h := newHarness(t, nil)
	h.runner.mu.Lock()
	h.runner.startGate = gate
	h.runner.mu.Unlock()
	p := h.create(unboundedSQL, false, 0)
	h.waitState(p, lifecycle.Scheduling)
	h.patch(p, stopMode(lifecycle.StopImmediate))
	// Let the controller's polls hand the stop to the machine, which is
	// waiting for its tasks to start.
	time.Sleep(500 * time.Millisecond)
	close(gate)
	h.waitState(p, lifecycle.Stopped)
}

// TestStopWhileRecovering stops a job during its recovery backoff.
func TestStopWhileRecovering(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.InitialBackoff, c.MaxBackoff = time.Minute, time.Minute })
	p := h.create(unboundedSQL, false, 0)
	h.waitState(p, lifecycle.Running)
	h.runner.crash(t, "crash")
	h.waitState(p, lifecycle.Recovering)
	h.patch(p, stopMode(lifecycle.StopImmediate))
	h.waitState(p, lifecycle.Stopped)
}

// TestForceStopDuringFinalCheckpoint: a rescale or a safe restart whose
// final checkpoint hangs gives way to a force stop.
func TestForceStopDuringFinalCheckpoint(t *testing.T) {
	for _, tc := range []struct {
		state lifecycle.State
		drive func(h *harness, p store.Pipeline)
	}{
		{lifecycle.Rescaling, func(h *harness, p store.Pipeline) { h.rescale(p, 2) }},
		{lifecycle.Restarting, func(h *harness, p store.Pipeline) { h.restart(p, store.RestartSafe) }},
	} {
		t.Run(string(tc.state), func(t *testing.T) {
			h, p := hangingHarness(t, time.Hour)
			tc.drive(h, p)
			h.waitState(p, tc.state)
			h.patch(p, stopMode(lifecycle.StopImmediate))
			h.waitState(p, lifecycle.Stopped)
		})
	}
}

// TestTaskFailsDuringFinalCheckpoint: a task that fails while a rescale,
// a safe restart or a checkpoint stop waits for its final checkpoint sends
// the job Recovering, from the last completed checkpoint.
func TestTaskFailsDuringFinalCheckpoint(t *testing.T) {
	for _, tc := range []struct {
		state lifecycle.State
		drive func(h *harness, p store.Pipeline)
	}{
		{lifecycle.Rescaling, func(h *harness, p store.Pipeline) { h.rescale(p, 2) }},
		{lifecycle.Restarting, func(h *harness, p store.Pipeline) { h.restart(p, store.RestartSafe) }},
		{lifecycle.CheckpointStopping, func(h *harness, p store.Pipeline) { h.patch(p, stopMode(lifecycle.StopCheckpoint)) }},
	} {
		t.Run(string(tc.state), func(t *testing.T) {
			h, p := hangingHarness(t, time.Hour)
			tc.drive(h, p)
			h.waitState(p, tc.state)
			h.runner.crash(t, "crash during the final checkpoint")
			h.waitFor(p, "recovered", func(j store.Job) bool { return j.Status.Restarts >= 1 })
			if hist := observed.history(p.Job.ID); !containsPair(hist, tc.state, lifecycle.Recovering) {
				t.Fatalf("history %v has no %s → Recovering", hist, tc.state)
			}
		})
	}
}

func containsPair(hist []lifecycle.State, from, to lifecycle.State) bool {
	for i := 1; i < len(hist); i++ {
		if hist[i-1] == from && hist[i] == to {
			return true
		}
	}
	return false
}

// TestTaskFailureDomain: a source file that does not parse is the outside
// world's problem; the job's error log says so, with the operator.
func TestTaskFailureDomain(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.AllowedRestarts = 1 })
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "bad.json"), []byte("{\"n\": 1}\nnot json\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	p := h.create(fmt.Sprintf(`CREATE TABLE src (n BIGINT) WITH (connector = 'filesystem', path = '%s', format = 'json');
CREATE TABLE sink WITH (connector = 'blackhole');
INSERT INTO sink SELECT n FROM src;`, dir), false, 0)
	h.waitState(p, lifecycle.Failed)
	msgs, _, err := h.store.ListLogMessages(context.Background(), store.DefaultOrg, p.Job.ID, store.LevelError, store.Page{Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, m := range msgs {
		if m.Message == "task failed" {
			found = true
			if m.Domain == nil || *m.Domain != store.DomainExternal || m.OperatorID == nil || m.TaskIndex == nil || !strings.Contains(m.Details, "line 2") {
				t.Errorf("task failure %+v (domain %v)", m, m.Domain)
			}
		}
	}
	if !found {
		t.Fatalf("no task failure logged: %+v", msgs)
	}
}
