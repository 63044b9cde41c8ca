package controller

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/runnel-dev/runnel/internal/engine"
	"github.com/runnel-dev/runnel/internal/lifecycle"
	"github.com/runnel-dev/runnel/internal/sql"
	"github.com/runnel-dev/runnel/internal/state"
	"github.com/runnel-dev/runnel/internal/store"
)

// checkpointHarness is a controller with checkpoint storage in a temp dir
// and a fast checkpoint cadence.
func checkpointHarness(t *testing.T, tweak func(*Config)) (*harness, *state.Storage) {
	t.Helper()
	st, err := state.Open(context.Background(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	h := newHarness(t, func(c *Config) {
		c.Checkpoints = st
		c.CheckpointTimeout = 5 * time.Second
		c.CheckpointRetention = 2
		if tweak != nil {
			tweak(c)
		}
	})
	return h, st
}

// countingQuery writes the impulse's counters below n to JSON files in dir,
// at rate events per second.
func countingQuery(dir string, n, rate int) string {
	return fmt.Sprintf(`CREATE TABLE impulse WITH (connector = 'impulse', event_rate = '%d', message_count = '%d');
CREATE TABLE out WITH (connector = 'filesystem', path = '%s', format = 'json');
INSERT INTO out SELECT counter FROM impulse;`, rate, n, dir)
}

// committedCounters counts each counter in the published files of dir.
func committedCounters(t *testing.T, dir string) map[int64]int {
	t.Helper()
	got := map[int64]int{}
	for _, l := range publishedLines(t, dir) {
		var row struct{ Counter int64 }
		if err := json.Unmarshal([]byte(l), &row); err != nil {
			t.Fatalf("%q: %v", l, err)
		}
		got[row.Counter]++
	}
	return got
}

func assertExactlyOnce(t *testing.T, got map[int64]int, n int) {
	t.Helper()
	var missing, dup []int64
	for i := int64(0); i < int64(n); i++ {
		switch got[i] {
		case 0:
			missing = append(missing, i)
		case 1:
		default:
			dup = append(dup, i)
		}
	}
	if len(got) > n {
		t.Errorf("%d counters beyond %d", len(got)-n, n)
	}
	if len(missing) > 0 || len(dup) > 0 {
		t.Fatalf("output is not exactly once: %d missing (first %v), %d duplicated (first %v)", len(missing), head(missing), len(dup), head(dup))
	}
}

func head(s []int64) []int64 { return s[:min(len(s), 5)] }

func (h *harness) checkpoints(p store.Pipeline) []store.Checkpoint {
	h.t.Helper()
	cps, err := h.store.ListCheckpoints(context.Background(), store.DefaultOrg, p.Job.ID)
	if err != nil {
		h.t.Fatal(err)
	}
	return cps
}

func (h *harness) waitCheckpoints(p store.Pipeline, n int) []store.Checkpoint {
	h.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		var ready []store.Checkpoint
		for _, c := range h.checkpoints(p) {
			if c.State == store.CheckpointReady {
				ready = append(ready, c)
			}
		}
		if len(ready) >= n {
			return ready
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("timed out waiting for %d ready checkpoints; have %d", n, len(ready))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (h *harness) createWithInterval(query string, interval time.Duration) store.Pipeline {
	h.t.Helper()
	p := h.create(query, false, 0)
	iv := interval
	h.patch(p, store.ConfigPatch{CheckpointInterval: &iv})
	return p
}

// TestCrashRecoversExactlyOnce crashes a running job twice after
// checkpoints: it recovers from the last one each time, and the published
// output holds every counter exactly once.
func TestCrashRecoversExactlyOnce(t *testing.T) {
	h, _ := checkpointHarness(t, nil)
	dir := t.TempDir()
	const n = 12000
	p := h.createWithInterval(countingQuery(dir, n, 4000), 150*time.Millisecond)
	h.waitState(p, lifecycle.Running)
	for crash := 1; crash <= 2; crash++ {
		h.waitCheckpoints(p, crash)
		h.runner.crash(t, fmt.Sprintf("injected crash %d", crash))
		h.waitFor(p, "recovered", func(j store.Job) bool {
			return j.Status.State == lifecycle.Running && j.Status.RunID == int64(crash+1)
		})
	}
	j := h.waitState(p, lifecycle.Finished)
	if j.Status.Restarts < 1 {
		t.Errorf("restarts %d", j.Status.Restarts)
	}
	assertExactlyOnce(t, committedCounters(t, dir), n)

	// The checkpoint records are complete: spans, operators in program
	// order, subtasks with bytes and raw events.
	cps := h.checkpoints(p)
	if len(cps) == 0 {
		t.Fatal("no checkpoints listed")
	}
	c := cps[len(cps)-1]
	if c.State != store.CheckpointReady || c.FinishTime == nil {
		t.Fatalf("last checkpoint %+v", c)
	}
	events := map[string]bool{}
	for _, e := range c.Events {
		events[e.Event] = e.FinishTime != nil
	}
	for _, want := range []string{spanCheckpointing, spanOperators, spanMetadata, spanCommitting} {
		if !events[want] {
			t.Errorf("span %s missing or unfinished: %+v", want, c.Events)
		}
	}
	if len(c.Operators) != 1 {
		t.Fatalf("operators %+v (source and sink are one fused node)", c.Operators)
	}
	for _, op := range c.Operators {
		if len(op.Tasks) != 1 || op.Tasks[0].Bytes == nil || *op.Tasks[0].Bytes == 0 || len(op.Tasks[0].Events) < 3 {
			t.Errorf("operator %s tasks %+v", op.OperatorID, op.Tasks)
		}
	}
	if sink := c.Operators[0]; sink.Tasks[0].Events[len(sink.Tasks[0].Events)-1].Type != store.EventPreCommit {
		t.Errorf("the sink's subtask has no pre_commit event: %+v", sink.Tasks[0].Events)
	}
}

// TestCheckpointStopResumes stops a job with a final checkpoint and starts
// it again: it resumes where it stopped.
func TestCheckpointStopResumes(t *testing.T) {
	h, _ := checkpointHarness(t, nil)
	dir := t.TempDir()
	const n = 5000
	p := h.createWithInterval(countingQuery(dir, n, 5000), time.Hour)
	h.waitState(p, lifecycle.Running)
	time.Sleep(300 * time.Millisecond)
	h.patch(p, stopMode(lifecycle.StopCheckpoint))
	h.waitState(p, lifecycle.Stopped)
	cps := h.checkpoints(p)
	if len(cps) != 1 || !cps[0].Stopping || cps[0].State != store.CheckpointReady {
		t.Fatalf("after a checkpoint stop: %+v", cps)
	}
	before := committedCounters(t, dir)
	if len(before) == 0 || len(before) >= n {
		t.Fatalf("%d counters published at the stop; want some but not all", len(before))
	}
	h.patch(p, stopMode(lifecycle.StopNone))
	h.waitState(p, lifecycle.Finished)
	assertExactlyOnce(t, committedCounters(t, dir), n)
}

// TestRescaleKeepsExactlyOnce rescales a running job 1 → 2 → 1.
func TestRescaleKeepsExactlyOnce(t *testing.T) {
	h, _ := checkpointHarness(t, nil)
	dir := t.TempDir()
	const n = 8000
	p := h.createWithInterval(countingQuery(dir, n, 4000), time.Hour)
	h.waitState(p, lifecycle.Running)
	for run, par := range []int{2, 1} {
		time.Sleep(300 * time.Millisecond)
		overrides := map[int]int{}
		for _, node := range h.program(p).Nodes {
			overrides[node.ID] = par
		}
		h.patch(p, store.ConfigPatch{ParallelismOverrides: overrides})
		j := h.waitFor(p, "rescaled", func(j store.Job) bool {
			return j.Status.State == lifecycle.Running && j.Status.RunID == int64(run+2)
		})
		if want := par; j.Status.Tasks == nil || *j.Status.Tasks != want {
			t.Fatalf("tasks after rescale to %d: %v", par, j.Status.Tasks)
		}
	}
	h.waitState(p, lifecycle.Finished)
	assertExactlyOnce(t, committedCounters(t, dir), n)
}

// faultyStorage fails or corrupts the state writes of chosen epochs, as a
// bad disk or object store would.
type faultyStorage struct {
	*state.Storage
	failEpoch, corruptEpoch int64
	// Writes of epochs from hangFrom on block until release is closed.
	hangFrom int64
	release  chan struct{}
}

func (f *faultyStorage) WriteRecords(ctx context.Context, key string, schema *arrow.Schema, recs []arrow.RecordBatch) (state.FileInfo, error) {
	epoch := epochOf(key)
	if f.hangFrom > 0 && epoch >= f.hangFrom {
		<-f.release
		return state.FileInfo{}, errors.New("released after hanging")
	}
	if epoch == f.failEpoch {
		return state.FileInfo{}, errors.New("injected write failure")
	}
	fi, err := f.Storage.WriteRecords(ctx, key, schema, recs)
	if err == nil && epoch == f.corruptEpoch {
		// The write "succeeds" but what lands is not what was written.
		err = f.Storage.Write(ctx, key, []byte("garbage"))
	}
	return fi, err
}

func epochOf(key string) int64 {
	parts := strings.Split(key, "/")
	for i, p := range parts {
		if p == "checkpoints" && i+1 < len(parts) {
			e, _ := strconv.ParseInt(parts[i+1], 10, 64)
			return e
		}
	}
	return -1
}

// TestBadCheckpointWritesFailTheEpochOnly makes one epoch's writes fail
// and another's land corrupted: each of those epochs fails, the job keeps
// running and checkpointing, and a crash afterwards still recovers exactly
// once (the bad epochs never committed any output).
func TestBadCheckpointWritesFailTheEpochOnly(t *testing.T) {
	for _, tc := range []struct {
		name string
		fs   func(*state.Storage) *faultyStorage
	}{
		{"write fails", func(s *state.Storage) *faultyStorage {
			return &faultyStorage{Storage: s, failEpoch: 2, corruptEpoch: -1}
		}},
		{"file corrupted", func(s *state.Storage) *faultyStorage {
			return &faultyStorage{Storage: s, failEpoch: -1, corruptEpoch: 2}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, _ := checkpointHarness(t, func(c *Config) { c.Checkpoints = tc.fs(c.Checkpoints.(*state.Storage)) })
			dir := t.TempDir()
			const n = 12000
			p := h.createWithInterval(countingQuery(dir, n, 4000), 150*time.Millisecond)
			h.waitState(p, lifecycle.Running)
			ready := h.waitCheckpoints(p, 2)
			for _, c := range ready {
				if c.Epoch == 2 {
					t.Fatalf("epoch 2 is ready despite its bad writes")
				}
			}
			c, err := h.store.GetCheckpoint(context.Background(), store.DefaultOrg, p.Job.ID, 2)
			if err != nil || c.State != store.CheckpointFailed {
				t.Fatalf("epoch 2: %+v, %v; want failed", c.State, err)
			}
			if j := h.job(p); j.Status.State != lifecycle.Running {
				t.Fatalf("job is %s after a failed checkpoint", j.Status.State)
			}
			msgs, _, err := h.store.ListLogMessages(context.Background(), store.DefaultOrg, p.Job.ID, store.LevelWarn, store.Page{Limit: 50})
			if err != nil {
				t.Fatal(err)
			}
			if !hasMessage(msgs, "checkpoint 2 failed") {
				t.Errorf("no warning about checkpoint 2: %+v", msgs)
			}
			h.runner.crash(t, "crash after a bad checkpoint")
			h.waitState(p, lifecycle.Finished)
			assertExactlyOnce(t, committedCounters(t, dir), n)
		})
	}
}

func hasMessage(msgs []store.LogMessage, text string) bool {
	for _, m := range msgs {
		if strings.Contains(m.Message, text) {
			return true
		}
	}
	return false
}

// TestRotCommittedCheckpointFallsBack corrupts the newest checkpoint after
// it committed, as bit rot would: the restore fails, the epoch is marked
// failed and logged, and the job recovers from the one before. Nothing is
// lost; output published after the older epoch may repeat, which the log
// message says.
func TestRotCommittedCheckpointFallsBack(t *testing.T) {
	h, st := checkpointHarness(t, func(c *Config) { c.CheckpointRetention = 5 })
	dir := t.TempDir()
	const n = 6000
	p := h.createWithInterval(countingQuery(dir, n, 3000), 200*time.Millisecond)
	h.waitState(p, lifecycle.Running)
	h.waitCheckpoints(p, 2)
	// Freeze checkpointing so that the newest ready epoch stays newest.
	iv := time.Hour
	h.patch(p, store.ConfigPatch{CheckpointInterval: &iv})
	time.Sleep(300 * time.Millisecond)
	ready := h.waitCheckpoints(p, 2)
	last := ready[len(ready)-1].Epoch
	keys, err := st.List(context.Background(), state.EpochPrefix(p.Job.ID, last))
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		if strings.HasSuffix(k, ".arrow") {
			if err := st.Write(context.Background(), k, []byte("garbage")); err != nil {
				t.Fatal(err)
			}
		}
	}
	h.runner.crash(t, "crash after corruption")
	h.waitState(p, lifecycle.Finished)
	c, err := h.store.GetCheckpoint(context.Background(), store.DefaultOrg, p.Job.ID, last)
	if err != nil {
		t.Fatal(err)
	}
	if c.State != store.CheckpointFailed {
		t.Errorf("corrupted epoch %d is %s, want failed", last, c.State)
	}
	msgs, _, err := h.store.ListLogMessages(context.Background(), store.DefaultOrg, p.Job.ID, store.LevelError, store.Page{Limit: 50})
	if err != nil {
		t.Fatal(err)
	}
	if !hasMessage(msgs, fmt.Sprintf("checkpoint %d could not be restored", last)) {
		t.Errorf("no log message about the unrestorable checkpoint: %+v", msgs)
	}
	got := committedCounters(t, dir)
	for i := int64(0); i < n; i++ {
		if got[i] == 0 {
			t.Fatalf("counter %d lost", i)
		}
	}
}

func (h *harness) program(p store.Pipeline) *engine.Program {
	h.t.Helper()
	prog, err := sql.Plan(p.Query, sql.Options{Parallelism: 1})
	if err != nil {
		h.t.Fatal(err)
	}
	return prog
}

// hangingHarness runs a job whose checkpoint writes hang from epoch 2 on.
func hangingHarness(t *testing.T, timeout time.Duration) (*harness, store.Pipeline) {
	t.Helper()
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	h, _ := checkpointHarness(t, func(c *Config) {
		c.Checkpoints = &faultyStorage{Storage: c.Checkpoints.(*state.Storage), failEpoch: -1, corruptEpoch: -1, hangFrom: 2, release: release}
		c.CheckpointTimeout = timeout
	})
	p := h.createWithInterval(countingQuery(t.TempDir(), 1_000_000, 2000), 100*time.Millisecond)
	h.waitState(p, lifecycle.Running)
	h.waitCheckpoints(p, 1)
	return h, p
}

// TestCheckpointTimeoutFailsTheEpochOnly: an epoch that hangs past the
// timeout fails; the job keeps running and tries the next one.
func TestCheckpointTimeoutFailsTheEpochOnly(t *testing.T) {
	h, p := hangingHarness(t, 300*time.Millisecond)
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := h.store.GetCheckpoint(context.Background(), store.DefaultOrg, p.Job.ID, 2)
		if err == nil && c.State == store.CheckpointFailed {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("epoch 2 never failed: %+v %v", c, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	msgs, _, err := h.store.ListLogMessages(context.Background(), store.DefaultOrg, p.Job.ID, store.LevelWarn, store.Page{Limit: 50})
	if err != nil {
		t.Fatal(err)
	}
	if !hasMessage(msgs, "checkpoint 2 failed") {
		t.Errorf("no warning about the timed-out checkpoint: %+v", msgs)
	}
	// The next epoch is attempted, and the job is still running.
	h.waitFor(p, "epoch 3 attempted", func(store.Job) bool {
		_, err := h.store.GetCheckpoint(context.Background(), store.DefaultOrg, p.Job.ID, 3)
		return err == nil
	})
	if j := h.job(p); j.Status.State != lifecycle.Running {
		t.Fatalf("job is %s", j.Status.State)
	}
}

// TestForceStopWhileCheckpointHangs: a checkpoint stop whose final
// checkpoint hangs stays in CheckpointStopping until a force stop, which
// ends it at once.
func TestForceStopWhileCheckpointHangs(t *testing.T) {
	h, p := hangingHarness(t, time.Hour)
	h.patch(p, stopMode(lifecycle.StopCheckpoint))
	h.waitState(p, lifecycle.CheckpointStopping)
	time.Sleep(200 * time.Millisecond)
	if j := h.job(p); j.Status.State != lifecycle.CheckpointStopping {
		t.Fatalf("job left CheckpointStopping on its own: %s", j.Status.State)
	}
	start := time.Now()
	h.patch(p, stopMode(lifecycle.StopImmediate))
	h.waitState(p, lifecycle.Stopped)
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("force stop took %s", took)
	}
}

// waitEpoch waits until an epoch at least e is ready.
func (h *harness) waitEpoch(p store.Pipeline, e int64) {
	h.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		for _, c := range h.checkpoints(p) {
			if c.State == store.CheckpointReady && c.Epoch >= e {
				return
			}
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("timed out waiting for epoch %d; have %+v", e, h.checkpoints(p))
		}
		time.Sleep(10 * time.Millisecond)
	}
}
