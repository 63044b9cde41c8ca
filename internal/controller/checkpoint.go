package controller

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/runnel-dev/runnel/internal/engine"
	"github.com/runnel-dev/runnel/internal/lifecycle"
	"github.com/runnel-dev/runnel/internal/state"
	"github.com/runnel-dev/runnel/internal/store"
)

// CheckpointStorage is where the controller keeps checkpoint files;
// *state.Storage implements it.
type CheckpointStorage interface {
	engine.StateStore
	Write(ctx context.Context, key string, data []byte) error
	DeletePrefix(ctx context.Context, prefix string) error
	Epochs(ctx context.Context, jobID string) ([]int64, error)
	Stat(ctx context.Context, key string) (state.FileInfo, error)
}

// Job-level checkpoint spans, as the API names them.
const (
	spanCheckpointing = "Checkpointing"
	spanOperators     = "CheckpointingOperators"
	spanMetadata      = "WritingMetadata"
	spanCompacting    = "Compacting"
	spanCommitting    = "Committing"
)

// inflight is the epoch being taken.
type inflight struct {
	rec     store.Checkpoint
	final   bool
	tasks   int
	reports map[[2]int]engine.CheckpointReport // by node id, subtask
	started time.Time
}

// reportBox hands checkpoint reports from the engine's goroutines to the
// machine without ever blocking them.
type reportBox struct {
	mu     sync.Mutex
	items  []engine.CheckpointReport
	notify chan struct{}
}

func newReportBox() *reportBox { return &reportBox{notify: make(chan struct{}, 1)} }

func (b *reportBox) add(r engine.CheckpointReport) {
	b.mu.Lock()
	b.items = append(b.items, r)
	b.mu.Unlock()
	select {
	case b.notify <- struct{}{}:
	default:
	}
}

func (b *reportBox) take() []engine.CheckpointReport {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := b.items
	b.items = nil
	return out
}

// checkpointing reports whether this job's runs take checkpoints.
// Previews don't: they live for minutes and never resume.
func (m *machine) checkpointing() bool {
	return m.c.cfg.Checkpoints != nil && !m.p.Preview && m.p.Job.Config.TTL == 0
}

// restorePoint is the newest epoch a run can start from (ready, or
// committing: its pre-commits are complete and sinks finish them on
// restore), and the highest epoch number used so far.
func (m *machine) restorePoint(ctx context.Context) (restore, last int64, err error) {
	cps, err := m.c.cfg.Store.ListCheckpoints(ctx, m.p.OrgID, m.jobID)
	if err != nil {
		return 0, 0, fmt.Errorf("listing checkpoints: %w", err)
	}
	for _, c := range cps {
		last = max(last, c.Epoch)
		if c.State == store.CheckpointReady || c.State == store.CheckpointCommitting {
			restore = max(restore, c.Epoch)
		}
	}
	return restore, last, nil
}

// runCheckpoints is the checkpoint part of a run's options.
func (m *machine) runCheckpoints(restore int64) *engine.CheckpointOptions {
	m.reports = newReportBox()
	return &engine.CheckpointOptions{Store: m.c.cfg.Checkpoints, Restore: restore, OnReport: m.reports.add}
}

// beginCheckpoint starts the next epoch.
func (m *machine) beginCheckpoint(ctx context.Context, final bool) error {
	if m.exec == nil || m.reports == nil {
		return errors.New("no running execution to checkpoint")
	}
	m.lastEpoch++
	epoch := m.lastEpoch
	now := m.now()
	m.lastCheckpointAt = now
	// Files of an earlier failed attempt at this epoch number must not mix
	// with the new ones.
	if err := m.c.cfg.Checkpoints.DeletePrefix(ctx, state.EpochPrefix(m.jobID, epoch)); err != nil {
		return fmt.Errorf("clearing epoch %d: %w", epoch, err)
	}
	m.cp = &inflight{
		rec: store.Checkpoint{
			OrgID: m.p.OrgID, ID: store.NewID("chk"), JobID: m.jobID, Epoch: epoch,
			Backend: "arrow-ipc", State: store.CheckpointInProgress, Stopping: final, StartTime: now,
			Events: []store.CheckpointEvent{{Event: spanCheckpointing, StartTime: now}, {Event: spanOperators, StartTime: now}},
		},
		final:   final,
		tasks:   m.exec.Tasks(),
		reports: map[[2]int]engine.CheckpointReport{},
		started: now,
	}
	if err := m.c.cfg.Store.PutCheckpoint(ctx, m.cp.rec); err != nil {
		m.cp = nil
		return fmt.Errorf("recording checkpoint %d: %w", epoch, err)
	}
	if err := m.exec.Checkpoint(epoch, final); err != nil {
		m.failCheckpoint(ctx, err.Error())
		return err
	}
	m.log.Debug("checkpoint started", "epoch", epoch, "final", final)
	return nil
}

// pumpCheckpoint takes the reports that have arrived. It returns true once
// the epoch in flight has completed (false if it failed or is still
// going); err is set when it failed.
func (m *machine) pumpCheckpoint(ctx context.Context) (bool, error) {
	if m.reports == nil {
		return false, nil
	}
	for _, r := range m.reports.take() {
		if m.cp == nil || r.Epoch != m.cp.rec.Epoch {
			continue // a failed or abandoned epoch's straggler
		}
		if r.Err != nil {
			why := fmt.Sprintf("operator %s subtask %d: %v", r.OperatorID, r.Subtask, r.Err)
			m.failCheckpoint(ctx, why)
			return false, errors.New(why)
		}
		m.cp.reports[[2]int{r.NodeID, r.Subtask}] = r
	}
	if m.cp == nil || len(m.cp.reports) < m.cp.tasks {
		return false, nil
	}
	if err := m.completeCheckpoint(ctx); err != nil {
		m.failCheckpoint(ctx, err.Error())
		return false, err
	}
	return true, nil
}

// completeCheckpoint runs once every subtask has written its state: the
// metadata makes the epoch restorable, then sinks commit, then old epochs
// go.
func (m *machine) completeCheckpoint(ctx context.Context) error {
	cp := m.cp
	rec := &cp.rec
	now := m.now()
	finishSpan(rec, spanOperators, now)
	rec.Operators = m.operatorRecords(cp)

	rec.Events = append(rec.Events, store.CheckpointEvent{Event: spanMetadata, StartTime: now})
	// Every file must read back as written before the epoch counts: once
	// sinks commit, an epoch that cannot be restored could not be replaced
	// by an older one without repeating output.
	var files []state.FileInfo
	for _, r := range cp.reports {
		for _, want := range r.Files {
			got, err := m.c.cfg.Checkpoints.Stat(ctx, want.Key)
			if err != nil {
				return fmt.Errorf("verifying %s: %w", want.Key, err)
			}
			if got.Bytes != want.Bytes || got.CRC != want.CRC {
				return fmt.Errorf("verifying %s: stored %d bytes with crc32c %08x, written %d bytes with %08x", want.Key, got.Bytes, got.CRC, want.Bytes, want.CRC)
			}
			files = append(files, want)
		}
	}
	slices.SortFunc(files, func(a, b state.FileInfo) int { return strings.Compare(a.Key, b.Key) })
	meta, err := json.Marshal(checkpointMetadata{JobID: m.jobID, Epoch: rec.Epoch, Operators: parallelismOf(m.program, m.parallelism), Files: files, Time: now})
	if err != nil {
		return err
	}
	if err := m.c.cfg.Checkpoints.Write(ctx, state.EpochPrefix(m.jobID, rec.Epoch)+"_metadata.json", meta); err != nil {
		return fmt.Errorf("writing metadata: %w", err)
	}
	now = m.now()
	finishSpan(rec, spanMetadata, now)
	rec.State = store.CheckpointCommitting
	rec.Events = append(rec.Events, store.CheckpointEvent{Event: spanCommitting, StartTime: now})
	if err := m.c.cfg.Store.PutCheckpoint(ctx, *rec); err != nil {
		return fmt.Errorf("recording checkpoint: %w", err)
	}
	if err := m.exec.Commit(ctx, rec.Epoch); err != nil {
		// The epoch is restorable: its pre-commits are complete, and a
		// restore from it commits them. Recovering does exactly that.
		return fmt.Errorf("committing: %w", err)
	}
	now = m.now()
	finishSpan(rec, spanCommitting, now)
	for i := range rec.Operators {
		for j := range rec.Operators[i].Tasks {
			t := &rec.Operators[i].Tasks[j]
			if cp.reports[[2]int{m.nodeOf(rec.Operators[i].OperatorID), t.SubtaskIndex}].Committing {
				t.Events = append(t.Events, store.TaskEvent{Type: store.EventPreCommit, Time: now})
			}
		}
	}
	rec.State = store.CheckpointReady
	m.compact(ctx, rec)
	now = m.now()
	finishSpan(rec, spanCheckpointing, now)
	rec.FinishTime = &now
	if err := m.c.cfg.Store.PutCheckpoint(ctx, *rec); err != nil {
		return fmt.Errorf("recording checkpoint: %w", err)
	}
	m.log.Info("checkpoint completed", "epoch", rec.Epoch, "final", cp.final, "duration", now.Sub(cp.started), "bytes", checkpointBytes(rec))
	m.cp = nil
	return nil
}

// compact keeps the files of the newest ready epochs (the retention) and
// deletes every other epoch's: older ready ones, which it marks compacted,
// and leftovers of failed ones. Failing to delete never fails the
// checkpoint.
func (m *machine) compact(ctx context.Context, rec *store.Checkpoint) {
	start := m.now()
	cps, err := m.c.cfg.Store.ListCheckpoints(ctx, m.p.OrgID, m.jobID)
	if err != nil {
		m.log.Warn("listing checkpoints to compact", "err", err)
		return
	}
	ready := map[int64]store.Checkpoint{}
	var keep []int64
	for _, c := range cps {
		if c.State == store.CheckpointReady && c.Epoch != rec.Epoch {
			ready[c.Epoch] = c
			keep = append(keep, c.Epoch)
		}
	}
	keep = append(keep, rec.Epoch)
	slices.Sort(keep)
	keep = keep[max(0, len(keep)-m.c.cfg.CheckpointRetention):]
	epochs, err := m.c.cfg.Checkpoints.Epochs(ctx, m.jobID)
	if err != nil {
		m.log.Warn("listing checkpoint files", "err", err)
		return
	}
	deleted := 0
	for _, e := range epochs {
		if e >= rec.Epoch || slices.Contains(keep, e) {
			continue
		}
		if err := m.c.cfg.Checkpoints.DeletePrefix(ctx, state.EpochPrefix(m.jobID, e)); err != nil {
			m.log.Warn("deleting old checkpoint", "epoch", e, "err", err)
			continue
		}
		deleted++
		if old, ok := ready[e]; ok {
			old.State = store.CheckpointCompacted
			if err := m.c.cfg.Store.PutCheckpoint(ctx, old); err != nil {
				m.log.Warn("marking checkpoint compacted", "epoch", e, "err", err)
			}
		}
	}
	if deleted > 0 {
		end := m.now()
		rec.Events = append(rec.Events, store.CheckpointEvent{Event: spanCompacting, StartTime: start, FinishTime: &end})
	}
}

// failCheckpoint gives the epoch up. A failed checkpoint never fails the
// job: the next one may succeed, and restores use the last good one.
func (m *machine) failCheckpoint(ctx context.Context, why string) {
	if m.cp == nil {
		return
	}
	rec := m.cp.rec
	m.cp = nil
	now := m.now()
	rec.State = store.CheckpointFailed
	rec.FinishTime = &now
	// The reason is logged first, so that whoever sees the epoch failed
	// can also read why.
	domain := store.DomainInternal
	m.logMessage(ctx, store.LevelWarn, nil, nil, fmt.Sprintf("checkpoint %d failed", rec.Epoch), why, &domain)
	if err := m.c.cfg.Store.PutCheckpoint(ctx, rec); err != nil && ctx.Err() == nil {
		m.log.Error("recording failed checkpoint", "epoch", rec.Epoch, "err", err)
	}
	m.log.Warn("checkpoint failed", "epoch", rec.Epoch, "reason", why)
}

// checkCheckpointTimeout fails the epoch in flight if it took too long.
func (m *machine) checkCheckpointTimeout(ctx context.Context) bool {
	if m.cp == nil || m.now().Sub(m.cp.started) < m.c.cfg.CheckpointTimeout {
		return false
	}
	m.failCheckpoint(ctx, fmt.Sprintf("timed out after %s with %d of %d subtasks done", m.c.cfg.CheckpointTimeout, len(m.cp.reports), m.cp.tasks))
	return true
}

// finalCheckpoint takes a checkpoint after which the sources emit nothing,
// and waits for it. It returns ok when the state is safe; next is a state
// a force stop asked for meanwhile, or Recovering if a task failed.
func (m *machine) finalCheckpoint(ctx context.Context) (next lifecycle.State, ok bool) {
	if m.exec == nil || !m.checkpointing() {
		return "", false
	}
	if m.cp != nil {
		m.failCheckpoint(ctx, "superseded by a final checkpoint")
	}
	if err := m.beginCheckpoint(ctx, true); err != nil {
		m.log.Warn("final checkpoint not started", "err", err)
		return "", false
	}
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return "", false
		case p := <-m.updates:
			m.p = p
			if stop := p.Job.Config.Stop; stop == lifecycle.StopImmediate || stop == lifecycle.StopForce {
				m.failCheckpoint(ctx, "stop was forced")
				return m.stopTarget(stop, false), false
			}
		case <-m.reports.notify:
			done, err := m.pumpCheckpoint(ctx)
			if err != nil {
				return "", false
			}
			if done {
				return "", true
			}
		case <-m.exec.Done():
			m.failCheckpoint(ctx, "the execution ended before the checkpoint completed")
			if m.exec.Err() != nil {
				return m.executionEnded(ctx), false
			}
			return "", false
		case <-tick.C:
			if m.checkCheckpointTimeout(ctx) {
				return "", false
			}
		}
	}
}

func finishSpan(rec *store.Checkpoint, event string, at time.Time) {
	for i := range rec.Events {
		if rec.Events[i].Event == event && rec.Events[i].FinishTime == nil {
			rec.Events[i].FinishTime = &at
		}
	}
}

// operatorRecords turns the reports into per-operator records, operators
// in program order and subtasks by index.
func (m *machine) operatorRecords(cp *inflight) []store.OperatorCheckpoint {
	var ops []store.OperatorCheckpoint
	for _, n := range m.program.Nodes {
		oc := store.OperatorCheckpoint{OperatorID: n.OperatorID()}
		var subs []int
		for k := range cp.reports {
			if k[0] == n.ID {
				subs = append(subs, k[1])
			}
		}
		slices.Sort(subs)
		for _, s := range subs {
			r := cp.reports[[2]int{n.ID, s}]
			start, fin, bytes := r.AlignmentStarted.UTC(), r.Finished.UTC(), r.Bytes
			if oc.StartTime.IsZero() || start.Before(oc.StartTime) {
				oc.StartTime = start
			}
			if oc.FinishTime == nil || fin.After(*oc.FinishTime) {
				oc.FinishTime = &fin
			}
			oc.HasState = oc.HasState || r.HasState
			oc.Tasks = append(oc.Tasks, store.TaskCheckpoint{
				SubtaskIndex: s, StartTime: start, FinishTime: &fin, Bytes: &bytes,
				Events: []store.TaskEvent{
					{Type: store.EventAlignmentStarted, Time: start},
					{Type: store.EventCheckpointStarted, Time: r.CheckpointStarted.UTC()},
					{Type: store.EventSyncFinished, Time: r.SyncFinished.UTC()},
				},
			})
		}
		if len(oc.Tasks) > 0 {
			ops = append(ops, oc)
		}
	}
	return ops
}

func (m *machine) nodeOf(operatorID string) int {
	for _, n := range m.program.Nodes {
		if n.OperatorID() == operatorID {
			return n.ID
		}
	}
	return -1
}

func checkpointBytes(rec *store.Checkpoint) int64 {
	var n int64
	for _, o := range rec.Operators {
		for _, t := range o.Tasks {
			if t.Bytes != nil {
				n += *t.Bytes
			}
		}
	}
	return n
}

// checkpointMetadata is written last for each epoch: an epoch without it
// was never completed.
type checkpointMetadata struct {
	JobID     string           `json:"job_id"`
	Epoch     int64            `json:"epoch"`
	Operators map[string]int   `json:"operator_parallelism"`
	Files     []state.FileInfo `json:"files"`
	Time      time.Time        `json:"time"`
}

func parallelismOf(p *engine.Program, overrides map[int]int) map[string]int {
	out := map[string]int{}
	for _, n := range p.Nodes {
		par := n.Parallelism
		if v, ok := overrides[n.ID]; ok {
			par = v
		}
		out[n.OperatorID()] = par
	}
	return out
}

// markRestoreFailed records that epoch could not be restored, so that the
// next attempt falls back to the one before it.
func (m *machine) markRestoreFailed(ctx context.Context, re *engine.RestoreError) {
	domain := store.DomainInternal
	m.logMessage(ctx, store.LevelError, nil, nil, fmt.Sprintf("checkpoint %d could not be restored", re.Epoch), re.Err.Error(), &domain)
	c, err := m.c.cfg.Store.GetCheckpoint(ctx, m.p.OrgID, m.jobID, re.Epoch)
	if err != nil {
		return
	}
	c.State = store.CheckpointFailed
	if err := m.c.cfg.Store.PutCheckpoint(ctx, c); err != nil {
		m.log.Error("marking checkpoint failed", "epoch", re.Epoch, "err", err)
	}
}
