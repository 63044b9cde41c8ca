package engine

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/bits"
	"strconv"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/runnel-dev/runnel/internal/state"
)

// How checkpoints work: the controller asks the execution for epoch N; each
// source subtask takes the request between two of its batches, snapshots
// its position and its chain's operators, and sends a barrier downstream.
// A subtask with several senders aligns: once a sender's barrier of N has
// arrived, that sender's later messages wait in a buffer until every live
// sender's barrier has arrived, so the snapshot holds exactly the effect
// of the data before the barrier. Snapshots are taken synchronously (the
// operator hands over immutable Arrow batches) and written to checkpoint
// storage asynchronously; each subtask then reports. Once every subtask
// has reported, the controller writes the epoch's metadata and calls
// Commit, which makes two-phase sinks publish what they pre-committed.

// KeyHashColumn is the name of the leading uint64 column of keyed state
// batches: the hash of the row's key, as HashColumns computes it. On
// restore each subtask receives only the rows whose hash falls in its key
// range, so state follows its keys when the parallelism changes.
const KeyHashColumn = "_key_hash"

// Snapshotter is implemented by operators and sources that keep state
// across batches.
type Snapshotter interface {
	// Snapshot returns the state as of the barrier of epoch: batches of
	// one schema that the operator will not mutate afterwards (the runtime
	// writes them out after Snapshot returns and releases them). Keyed
	// state has KeyHashColumn first; other state is handed to every
	// subtask on restore. A source's Snapshot is called from inside the
	// Collect of its next batch, before that batch is processed, so it
	// must describe the position before that batch. (nil, nil, nil) means
	// no state.
	Snapshot(ctx context.Context, epoch int64) (*arrow.Schema, []arrow.RecordBatch, error)
}

// DeferredSnapshotter is a Snapshotter that splits its work: on the
// task's goroutine, SnapshotDeferred only copies what it needs (cheaply:
// flat slices); the function it returns builds the batches beside the
// data flow, while the task goes on. It is preferred over Snapshot.
type DeferredSnapshotter interface {
	SnapshotDeferred(ctx context.Context, epoch int64) (build func() (*arrow.Schema, []arrow.RecordBatch, error), err error)
}

// Restorer is implemented by stateful operators and sources; Restore is
// called once, before any data, when a run starts from a checkpoint.
type Restorer interface {
	Restore(ctx context.Context, st RestoredState) error
}

// Committer is implemented by sinks that write in two phases: Snapshot
// pre-commits what was written before the barrier; Commit publishes it
// once the whole checkpoint is durable. Commit is called from another
// goroutine than the task's, so implementations synchronise, and it must
// be idempotent: after a crash it may be called again on restore.
type Committer interface {
	Commit(ctx context.Context, epoch int64) error
}

// RestoredState is what a subtask gets back from a checkpoint.
type RestoredState struct {
	Epoch int64
	// Parallelism is the operator's parallelism when the state was written.
	Parallelism int
	// Parts holds each old subtask's batches, by old subtask index. Keyed
	// state holds only the rows whose keys this subtask now owns.
	Parts []StatePart
}

// StatePart is the state one old subtask wrote.
type StatePart struct {
	Subtask int
	Batches []arrow.RecordBatch
}

// StateStore is where snapshots go; *state.Storage implements it.
type StateStore interface {
	WriteRecords(ctx context.Context, key string, schema *arrow.Schema, recs []arrow.RecordBatch) (state.FileInfo, error)
	ReadRecords(ctx context.Context, key string) (*arrow.Schema, []arrow.RecordBatch, error)
	List(ctx context.Context, prefix string) ([]string, error)
}

// CheckpointOptions turn checkpointing on for a run.
type CheckpointOptions struct {
	Store StateStore
	// Restore is the epoch to start from; 0 starts empty.
	Restore int64
	// OnReport receives every subtask's report of every epoch, from the
	// subtasks' goroutines.
	OnReport func(CheckpointReport)
}

// CheckpointReport is one subtask's part of an epoch.
type CheckpointReport struct {
	Epoch      int64
	NodeID     int
	OperatorID string // the node's (its chain head's) id
	Subtask    int
	// AlignmentStarted is when the first barrier arrived (the request, for
	// a source); CheckpointStarted when the last one did; SyncFinished when
	// the operators had handed over their state; Finished when it was
	// written.
	AlignmentStarted  time.Time
	CheckpointStarted time.Time
	SyncFinished      time.Time
	Finished          time.Time
	Bytes             int64
	// Rows is the number of state rows the subtask's operators handed
	// over (their groups, buffered rows, positions).
	Rows int64
	// Files are the state files written, with their checksums.
	Files []state.FileInfo
	// HasState reports whether any operator of the chain wrote state;
	// Committing whether one of them is a two-phase sink.
	HasState   bool
	Committing bool
	Err        error
}

// RestoreError says a run could not start from a checkpoint epoch, for
// example because a file of it is missing or corrupted.
type RestoreError struct {
	Epoch int64
	Err   error
}

func (e *RestoreError) Error() string {
	return fmt.Sprintf("restoring checkpoint %d: %v", e.Epoch, e.Err)
}
func (e *RestoreError) Unwrap() error { return e.Err }

// KeyOwner is the subtask of n that owns a key hash: the hash space is cut
// into n equal ranges, so that rescaling moves contiguous ranges.
func KeyOwner(hash uint64, n int) int {
	hi, _ := bits.Mul64(hash, uint64(n))
	return int(hi)
}

type barrierReq struct {
	epoch int64
	final bool
	at    time.Time
}

// ErrCheckpointsDisabled is returned when a run without CheckpointOptions
// is asked for a checkpoint.
var ErrCheckpointsDisabled = errors.New("checkpointing is not enabled for this run")

// Checkpoint asks every source subtask to inject the barrier of epoch. With
// final, sources emit nothing after it: the run then waits, its state
// captured, for Stop.
func (x *execution) Checkpoint(epoch int64, final bool) error {
	if x.cp == nil {
		return ErrCheckpointsDisabled
	}
	req := barrierReq{epoch: epoch, final: final, at: time.Now()}
	for _, t := range x.tasks {
		if !t.node.IsSource() {
			continue
		}
		select {
		case t.barriers <- req:
		default:
			return fmt.Errorf("checkpoint %d: source %s/%d has too many pending barriers", epoch, t.node.OperatorID(), t.subtask)
		}
	}
	return nil
}

// Commit calls every Committer of the run for epoch.
func (x *execution) Commit(ctx context.Context, epoch int64) error {
	var errs []error
	for _, t := range x.tasks {
		for i, op := range t.ops {
			c, ok := op.(Committer)
			if !ok {
				continue
			}
			if err := c.Commit(ctx, epoch); err != nil {
				errs = append(errs, &TaskError{OperatorID: t.node.Chain[t.opIdx[i]].ID, Subtask: t.subtask, Err: fmt.Errorf("commit epoch %d: %w", epoch, err)})
			}
		}
	}
	return errors.Join(errs...)
}

// pollBarrier takes a pending barrier request of a source subtask, if any,
// and checkpoints. It is called at batch boundaries.
func (t *task) pollBarrier(ctx context.Context) error {
	for {
		select {
		case req := <-t.barriers:
			if err := t.checkpoint(ctx, req.epoch, req.at); err != nil {
				return err
			}
			if req.final {
				t.halted = true
				return nil
			}
		default:
			return nil
		}
	}
}

// checkpoint snapshots the chain, forwards the barrier and writes the
// snapshot in the background.
func (t *task) checkpoint(ctx context.Context, epoch int64, alignStart time.Time) error {
	rep := CheckpointReport{
		Epoch: epoch, NodeID: t.node.ID, OperatorID: t.node.OperatorID(), Subtask: t.subtask,
		AlignmentStarted: alignStart, CheckpointStarted: time.Now(),
	}
	type snap struct {
		id     string
		schema *arrow.Schema
		recs   []arrow.RecordBatch
		build  func() (*arrow.Schema, []arrow.RecordBatch, error)
	}
	var snaps []*snap
	release := func() {
		for _, s := range snaps {
			for _, r := range s.recs {
				r.Release()
			}
		}
	}
	take := func(chainIdx int, v any) error {
		if _, ok := v.(Committer); ok {
			rep.Committing = true
		}
		id := t.node.Chain[chainIdx].ID
		prev := t.cur
		t.cur = chainIdx
		defer func() { t.cur = prev }()
		if d, ok := v.(DeferredSnapshotter); ok {
			build, err := d.SnapshotDeferred(ctx, epoch)
			if err != nil {
				return t.tag(fmt.Errorf("snapshot for checkpoint %d: %w", epoch, err))
			}
			snaps = append(snaps, &snap{id: id, build: build})
			return nil
		}
		s, ok := v.(Snapshotter)
		if !ok {
			return nil
		}
		schema, recs, err := s.Snapshot(ctx, epoch)
		if err != nil {
			return t.tag(fmt.Errorf("snapshot for checkpoint %d: %w", epoch, err))
		}
		if schema != nil {
			snaps = append(snaps, &snap{id: id, schema: schema, recs: recs})
		}
		return nil
	}
	if err := t.eachInChain(take); err != nil {
		release()
		return err
	}
	rep.HasState = len(snaps) > 0
	if t.lastWM > math.MinInt64 {
		// The subtask's event-time watermark, so that a restored run
		// treats late rows as this one would have.
		snaps = append(snaps, &snap{id: watermarkStateID(t.node), schema: watermarkSchema, recs: []arrow.RecordBatch{watermarkBatch(t.lastWM)}})
	}
	rep.SyncFinished = time.Now()
	if err := t.broadcast(ctx, Message{Signal: SignalBarrier, Epoch: epoch}); err != nil {
		release()
		return err
	}
	cp := t.x.cp
	job := t.x.jobID
	// The write runs beside the data: the task goes on processing while its
	// state, already handed over, is encoded and stored. The execution is
	// not done until it has ended, so nothing of a run writes after it.
	t.x.writes.Add(1)
	go func() {
		defer t.x.writes.Done()
		defer release()
		var errs []error
		for _, s := range snaps {
			if s.build != nil {
				schema, recs, err := s.build()
				if err != nil {
					errs = append(errs, fmt.Errorf("state of %s: %w", s.id, err))
					continue
				}
				if schema == nil {
					continue
				}
				s.schema, s.recs = schema, recs
			}
			if s.id != watermarkStateID(t.node) {
				for _, r := range s.recs {
					rep.Rows += r.NumRows()
				}
			}
			fi, err := cp.Store.WriteRecords(ctx, state.SubtaskKey(job, epoch, s.id, t.subtask), s.schema, s.recs)
			if err != nil {
				errs = append(errs, fmt.Errorf("writing state of %s: %w", s.id, err))
				continue
			}
			rep.Bytes += fi.Bytes
			rep.Files = append(rep.Files, fi)
		}
		rep.Err = errors.Join(errs...)
		rep.Finished = time.Now()
		if cp.OnReport != nil {
			cp.OnReport(rep)
		}
	}()
	return nil
}

// restore hands each stateful operator of the chain its part of epoch.
func (t *task) restore(ctx context.Context, st StateStore, job string, epoch int64) error {
	do := func(chainIdx int, v any) error {
		r, ok := v.(Restorer)
		if !ok {
			return nil
		}
		id := t.node.Chain[chainIdx].ID
		rs, err := readState(ctx, st, job, epoch, id, t.subtask, t.node.Parallelism)
		if err != nil {
			return &RestoreError{Epoch: epoch, Err: fmt.Errorf("operator %s: %w", id, err)}
		}
		if rs.Parallelism == 0 {
			return nil // the operator wrote no state at that epoch
		}
		defer rs.release()
		if err := r.Restore(ctx, rs); err != nil {
			return &RestoreError{Epoch: epoch, Err: fmt.Errorf("operator %s subtask %d: %w", id, t.subtask, err)}
		}
		return nil
	}
	if err := t.eachInChain(do); err != nil {
		return err
	}
	return t.restoreWatermark(ctx, st, job, epoch)
}

// eachInChain calls f with the chain index of the source (if any) and of
// each operator, in chain order, until it fails.
func (t *task) eachInChain(f func(chainIdx int, v any) error) error {
	if t.source != nil {
		if err := f(0, t.source); err != nil {
			return err
		}
	}
	for i, op := range t.ops {
		if err := f(t.opIdx[i], op); err != nil {
			return err
		}
	}
	return nil
}

var watermarkSchema = arrow.NewSchema([]arrow.Field{{Name: "watermark", Type: arrow.PrimitiveTypes.Int64}}, nil)

func watermarkStateID(n *Node) string { return n.OperatorID() + ".watermark" }

func watermarkBatch(wm int64) arrow.RecordBatch {
	b := array.NewInt64Builder(memory.DefaultAllocator)
	defer b.Release()
	b.Append(wm)
	col := b.NewArray()
	defer col.Release()
	return array.NewRecordBatch(watermarkSchema, []arrow.Array{col}, 1)
}

// restoreWatermark brings the subtask's watermark back to where the
// checkpoint left it (the lowest of the old subtasks', which at an aligned
// barrier are the same) and lets the chain's operators see it.
func (t *task) restoreWatermark(ctx context.Context, st StateStore, job string, epoch int64) error {
	rs, err := readState(ctx, st, job, epoch, watermarkStateID(t.node), t.subtask, t.node.Parallelism)
	if err != nil {
		return &RestoreError{Epoch: epoch, Err: fmt.Errorf("watermark of %s: %w", t.node.OperatorID(), err)}
	}
	defer rs.release()
	wm, found := int64(math.MaxInt64), false
	for _, p := range rs.Parts {
		for _, b := range p.Batches {
			if c, ok := b.Column(0).(*array.Int64); ok && c.Len() > 0 {
				wm, found = min(wm, c.Value(0)), true
			}
		}
	}
	if !found {
		return nil
	}
	t.lastWM = wm
	t.watermarkNow.Store(wm)
	for _, op := range t.ops {
		if h, ok := op.(WatermarkHandler); ok {
			if err := h.ProcessWatermark(ctx, wm, discardOutput{}); err != nil {
				return &RestoreError{Epoch: epoch, Err: err}
			}
		}
	}
	return nil
}

func (rs RestoredState) release() {
	for _, p := range rs.Parts {
		for _, b := range p.Batches {
			b.Release()
		}
	}
}

// readState loads every old subtask's file of an operator at epoch and
// keeps, of keyed state, the rows that subtask of parallelism n owns.
func readState(ctx context.Context, st StateStore, job string, epoch int64, opID string, subtask, n int) (RestoredState, error) {
	prefix := state.EpochPrefix(job, epoch) + opID + "/"
	keys, err := st.List(ctx, prefix)
	if err != nil {
		return RestoredState{}, err
	}
	rs := RestoredState{Epoch: epoch}
	for _, k := range keys {
		name := strings.TrimPrefix(k, prefix)
		idx, ok := strings.CutPrefix(strings.TrimSuffix(name, ".arrow"), "subtask-")
		if !ok {
			continue
		}
		old, err := strconv.Atoi(idx)
		if err != nil {
			continue
		}
		_, recs, err := st.ReadRecords(ctx, k)
		if err != nil {
			rs.release()
			return RestoredState{}, err
		}
		kept, err := ownRows(ctx, recs, subtask, n)
		for _, r := range recs {
			r.Release()
		}
		if err != nil {
			rs.release()
			return RestoredState{}, fmt.Errorf("%s: %w", k, err)
		}
		rs.Parts = append(rs.Parts, StatePart{Subtask: old, Batches: kept})
		rs.Parallelism = max(rs.Parallelism, old+1)
	}
	return rs, nil
}

// ownRows returns the batches (retained) restricted, when they are keyed,
// to the rows subtask of n owns.
func ownRows(ctx context.Context, recs []arrow.RecordBatch, subtask, n int) ([]arrow.RecordBatch, error) {
	var out []arrow.RecordBatch
	for _, r := range recs {
		if r.NumCols() == 0 || r.Schema().Field(0).Name != KeyHashColumn {
			r.Retain()
			out = append(out, r)
			continue
		}
		hashes, ok := r.Column(0).(*array.Uint64)
		if !ok {
			return out, fmt.Errorf("column %s is %s, want uint64", KeyHashColumn, r.Column(0).DataType())
		}
		var idx []int32
		for i, h := range hashes.Uint64Values() {
			if KeyOwner(h, n) == subtask {
				idx = append(idx, int32(i))
			}
		}
		switch len(idx) {
		case 0:
			continue
		case int(r.NumRows()):
			r.Retain()
			out = append(out, r)
		default:
			b, err := takeRows(ctx, r, idx)
			if err != nil {
				return out, err
			}
			out = append(out, b)
		}
	}
	return out, nil
}

// alignment is a subtask's progress through one barrier: which senders'
// barriers have arrived and what they sent since.
type alignment struct {
	active  bool
	epoch   int64
	started time.Time
	blocked []bool // by sender slot
	held    []Message
}

func (a *alignment) holds(slot int) bool {
	return a.active && slot >= 0 && slot < len(a.blocked) && a.blocked[slot]
}

func (a *alignment) arrive(slot int, epoch int64, slots int) {
	if !a.active {
		a.active, a.epoch, a.started = true, epoch, time.Now()
		if cap(a.blocked) < slots {
			a.blocked = make([]bool, slots)
		}
		a.blocked = a.blocked[:slots]
		clear(a.blocked)
	}
	if slot >= 0 && slot < len(a.blocked) {
		a.blocked[slot] = true
	}
}

// aligned checkpoints once every live sender's barrier is in, then lets
// the held messages through again, ahead of anything newer.
func (t *task) aligned(ctx context.Context) error {
	a := &t.align
	if !a.active {
		return nil
	}
	for i, b := range a.blocked {
		if !b && !t.wms.ended[i] {
			return nil
		}
	}
	if err := t.checkpoint(ctx, a.epoch, a.started); err != nil {
		return err
	}
	a.active = false
	if len(a.held) > 0 {
		t.replay = append(a.held, t.replay...)
		a.held = nil
	}
	return nil
}

// next is the next message to handle: held messages first, then the inbox.
func (t *task) next(ctx context.Context) (Message, error) {
	if len(t.replay) > 0 {
		m := t.replay[0]
		t.replay[0] = Message{}
		t.replay = t.replay[1:]
		return m, nil
	}
	return t.inbox.Recv(ctx)
}

// keyHashes is the KeyHashColumn of rows: the hash of each row's values in
// keyCols, as the shuffle computes it. The caller releases it.
func keyHashes(rows arrow.RecordBatch, keyCols []int) (arrow.Array, error) {
	hashes := make([]uint64, rows.NumRows())
	if err := HashColumns(rows, keyCols, hashes); err != nil {
		return nil, err
	}
	b := array.NewUint64Builder(memory.DefaultAllocator)
	defer b.Release()
	b.AppendValues(hashes, nil)
	return b.NewArray(), nil
}

// withKeyHash returns rows with their key hash (of keyCols) prepended, as
// a batch of schema.
func withKeyHash(schema *arrow.Schema, rows arrow.RecordBatch, keyCols []int) (arrow.RecordBatch, error) {
	h, err := keyHashes(rows, keyCols)
	if err != nil {
		return nil, err
	}
	defer h.Release()
	return array.NewRecordBatch(schema, append([]arrow.Array{h}, rows.Columns()...), rows.NumRows()), nil
}

// discardOutput is the output of operators replaying state on restore: what they
// emit was emitted before the checkpoint.
type discardOutput struct{}

func (discardOutput) Collect(context.Context, arrow.RecordBatch) error { return nil }
