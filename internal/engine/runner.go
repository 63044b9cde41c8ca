package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/runnel-dev/runnel/internal/metrics"
)

// How a run works: every node of the program becomes Parallelism tasks,
// one goroutine each. A task owns a fresh instance of each operator of its
// node's chain; batches pass along the chain by function call, and leave it
// through outboxes into the bounded inboxes of the next node's tasks
// (forward: same subtask index; shuffle: round-robin). End of stream is a
// signal that each sender sends to each inbox it feeds; a task finishes its
// chain once it has one from every sender, so draining needs no global
// coordination. Watermarks and checkpoint barriers are meant to travel the
// same way, as further Signals.

// DefaultQueueSize is the capacity, in batches, of a subtask's input queue.
// With batches of at most a few thousand rows it bounds the memory held in
// flight per subtask while leaving room to absorb jitter.
const DefaultQueueSize = 16

// Local runs every subtask of a program as a goroutine of this process.
// The zero value is ready to use.
type Local struct {
	// QueueSize is the capacity of each subtask's input queue, in batches
	// (default DefaultQueueSize).
	QueueSize int
	// NewTransport makes the transport of one execution (default: bounded
	// in-process channels).
	NewTransport func() Transport
	// IdleTimeout is how long a sender may stay silent before its
	// watermark stops holding back the others (default DefaultIdleTimeout;
	// negative disables idleness).
	IdleTimeout time.Duration
}

// writesGrace bounds how long an ended execution waits for its checkpoint
// writes to notice the cancellation.
const writesGrace = time.Second

// DefaultIdleTimeout is how long an upstream subtask may send nothing
// before it is considered idle and no longer holds back the watermark.
const DefaultIdleTimeout = 5 * time.Second

// NewRunner returns a Runner that runs programs in this process.
func NewRunner() *Local { return &Local{} }

var _ Runner = (*Local)(nil)

// Start builds one instance of every operator for every subtask and starts
// them. Errors building operators are returned here, before anything runs.
func (l *Local) Start(ctx context.Context, p *Program, opts RunOptions) (Execution, error) {
	if p == nil {
		return nil, errors.New("nil program")
	}
	if err := p.validate(); err != nil {
		return nil, fmt.Errorf("invalid program: %w", err)
	}
	queue := l.QueueSize
	if queue <= 0 {
		queue = DefaultQueueSize
	}
	tr := Transport(nil)
	if l.NewTransport != nil {
		tr = l.NewTransport()
	} else {
		tr = newLocalTransport()
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.Default()
	}
	logger = logger.With("job_id", opts.JobID, "run_id", opts.RunID)

	runCtx, cancel := context.WithCancel(ctx)
	x := &execution{
		cancel: cancel,
		stopCh: make(chan struct{}),
		done:   make(chan struct{}),
		logger: logger,
		start:  time.Now(),
		cp:     opts.Checkpoints,
		jobID:  opts.JobID,
	}
	if x.cp != nil && x.cp.Store == nil {
		return nil, errors.New("checkpoint options without a state store")
	}
	started := false
	defer func() {
		if !started {
			cancel()
			for _, t := range x.tasks {
				t.close()
			}
		}
	}()

	// Inputs first, so that every outbox has somewhere to point. Each
	// edge is an input of its destination, numbered in edge order; each
	// input has one sender per upstream subtask (one for forward edges).
	expected := map[TaskAddr]int{}
	inputOf := make([]int, len(p.Edges))
	senders := map[int][]int{} // node id -> senders per input
	for i, e := range p.Edges {
		src, dst := p.Node(e.Src), p.Node(e.Dest)
		inputOf[i] = len(senders[dst.ID])
		n := src.Parallelism
		if e.Type == Forward && src.Parallelism == dst.Parallelism {
			n = 1
		}
		senders[dst.ID] = append(senders[dst.ID], n)
		for s := 0; s < dst.Parallelism; s++ {
			expected[TaskAddr{dst.ID, s}] += n
		}
	}
	assigned := opts.Assigned
	if assigned == nil {
		assigned = func(TaskAddr) bool { return true }
	}
	inboxes := map[TaskAddr]Inbox{}
	for _, n := range p.Nodes {
		if n.IsSource() {
			continue
		}
		for s := 0; s < n.Parallelism; s++ {
			addr := TaskAddr{n.ID, s}
			if !assigned(addr) {
				continue
			}
			in, err := tr.Inbox(addr, queue)
			if err != nil {
				return nil, fmt.Errorf("create inbox: %w", err)
			}
			inboxes[addr] = in
		}
	}

	for _, n := range p.Nodes {
		for s := 0; s < n.Parallelism; s++ {
			if !assigned(TaskAddr{n.ID, s}) {
				continue
			}
			t := &task{
				node:     n,
				subtask:  s,
				inbox:    inboxes[TaskAddr{n.ID, s}],
				expected: expected[TaskAddr{n.ID, s}],
				x:        x,
				wms:      newWatermarks(senders[n.ID], l.IdleTimeout),
			}
			for ei, e := range p.Edges {
				if e.Src != n.ID {
					continue
				}
				dst := p.Node(e.Dest)
				out := edgeOut{input: inputOf[ei]}
				if e.Type == Forward && dst.Parallelism == n.Parallelism {
					ob, err := tr.Outbox(TaskAddr{dst.ID, s})
					if err != nil {
						return nil, fmt.Errorf("connect %d -> %d: %w", n.ID, dst.ID, err)
					}
					out.boxes = []Outbox{ob}
				} else {
					for d := 0; d < dst.Parallelism; d++ {
						ob, err := tr.Outbox(TaskAddr{dst.ID, d})
						if err != nil {
							return nil, fmt.Errorf("connect %d -> %d: %w", n.ID, dst.ID, err)
						}
						out.boxes = append(out.boxes, ob)
					}
					// Start each sender at a different subtask so that
					// small streams spread out too.
					out.next = s
					if len(e.Key) > 0 && dst.Parallelism > 1 {
						out.part = newPartitioner(e.Key, dst.Parallelism)
					}
				}
				t.outs = append(t.outs, out)
			}
			x.tasks = append(x.tasks, t)
			if err := t.build(opts, logger); err != nil {
				return nil, err
			}
			if x.cp == nil {
				continue
			}
			if n.IsSource() {
				t.barriers = make(chan barrierReq, 16)
			}
			if x.cp.Restore > 0 {
				if err := t.restore(ctx, x.cp.Store, opts.JobID, x.cp.Restore); err != nil {
					return nil, err
				}
			}
		}
	}

	x.prev = make([]bpSample, len(x.tasks))
	for i := range x.prev {
		x.prev[i].at = x.start
	}
	x.wg.Add(len(x.tasks))
	for _, t := range x.tasks {
		go t.run(runCtx)
	}
	go func() {
		x.wg.Wait()
		for _, in := range inboxes {
			drain(in)
		}
		cancel()
		// Checkpoint writes watch the run's context: let them end, so that
		// nothing of the run writes after it, but never hang on a store
		// that ignores cancellation.
		writes := make(chan struct{})
		go func() { x.writes.Wait(); close(writes) }()
		select {
		case <-writes:
		case <-time.After(writesGrace):
			logger.Warn("checkpoint writes still running after the execution ended", "waited", writesGrace)
		}
		// Logged before Done so that nothing of the run outlives it.
		logger.Info("execution ended", "finished", x.finished(), "err", x.Err(), "duration", time.Since(x.start).Round(time.Millisecond))
		close(x.done)
	}()
	started = true
	logger.Info("execution started", "nodes", len(p.Nodes), "tasks", len(x.tasks))
	return x, nil
}

type execution struct {
	cancel context.CancelFunc
	stopCh chan struct{}
	done   chan struct{}
	wg     sync.WaitGroup
	writes sync.WaitGroup // checkpoint writes in flight
	logger *slog.Logger
	start  time.Time
	tasks  []*task

	stopOnce  sync.Once
	immediate atomic.Bool
	stopping  atomic.Bool

	mu  sync.Mutex
	err error

	bpMu sync.Mutex
	prev []bpSample

	cp    *CheckpointOptions // nil: no checkpoints
	jobID string
}

type bpSample struct {
	at      time.Time
	blocked int64
}

func (x *execution) Done() <-chan struct{} { return x.done }

func (x *execution) Err() error {
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.err
}

func (x *execution) Finished() bool {
	select {
	case <-x.done:
		return x.finished()
	default:
		return false
	}
}

// finished is Finished once every task has ended.
func (x *execution) finished() bool {
	if x.Err() != nil || x.immediate.Load() {
		return false
	}
	for _, t := range x.tasks {
		if t.node.IsSource() && !t.exhausted.Load() {
			return false
		}
	}
	return true
}

func (x *execution) Stop(mode StopMode) {
	x.stopping.Store(true)
	if mode == StopImmediate {
		// Cancel before the sources see stop: a source that returned on
		// stop while the context was still live would look drained, and
		// its chain would flush and publish as if the input had ended.
		x.immediate.Store(true)
		x.cancel()
	}
	x.stopOnce.Do(func() { close(x.stopCh) })
}

func (x *execution) Tasks() int { return len(x.tasks) }

func (x *execution) Metrics() []metrics.TaskCounters {
	now := time.Now()
	x.bpMu.Lock()
	defer x.bpMu.Unlock()
	out := make([]metrics.TaskCounters, len(x.tasks))
	for i, t := range x.tasks {
		blocked := t.blockedNanos.Load()
		if since := t.blockedSince.Load(); since != 0 {
			blocked += now.UnixNano() - since
		}
		bp := 0.0
		if dt := now.Sub(x.prev[i].at); dt > 0 {
			bp = float64(blocked-x.prev[i].blocked) / float64(dt)
		}
		bp = min(max(bp, 0), 1)
		x.prev[i] = bpSample{at: now, blocked: blocked}
		c := metrics.TaskCounters{
			NodeID:       t.node.ID,
			OperatorID:   t.node.OperatorID(),
			Subtask:      t.subtask,
			MessagesRecv: t.rowsRecv.Load(),
			MessagesSent: t.rowsSent.Load(),
			BytesRecv:    t.bytesRecv.Load(),
			BytesSent:    t.bytesSent.Load(),
			Backpressure: bp,
		}
		if t.inbox != nil {
			c.QueueSize = int64(t.inbox.Cap())
			c.QueueRem = int64(t.inbox.Cap() - t.inbox.Len())
		}
		for _, op := range t.ops {
			if lc, ok := op.(LateCounter); ok {
				c.LateRows += lc.LateRows()
			}
		}
		if wm := t.watermarkNow.Load(); wm > 0 {
			c.Watermark = wm
		}
		out[i] = c
	}
	return out
}

// fail records the first real failure and cancels everything. Errors seen
// after cancellation are its consequences and are dropped.
func (x *execution) fail(ctx context.Context, err error) {
	x.mu.Lock()
	if ctx.Err() == nil && x.err == nil {
		x.err = err
	}
	x.mu.Unlock()
	x.cancel()
}

type edgeOut struct {
	boxes []Outbox
	next  int
	input int          // the edge's index among its destination's inputs
	part  *partitioner // keyed shuffle, nil otherwise
}

// task is one subtask: a chain of operator instances fed by an inbox (or
// by a source) and feeding the outboxes of its outgoing edges.
// Its counters follow the chain's boundary: received is what enters the
// chain (from the inbox, or from its source), sent is what leaves it (to
// the outgoing edges, or into its sink).
type task struct {
	node     *Node
	subtask  int
	inbox    Inbox
	expected int // end-of-stream signals to wait for
	outs     []edgeOut
	x        *execution
	logger   *slog.Logger
	wms      *watermarks
	multi    MultiInputOperator // the chain's head, if it has several inputs
	lastWM   int64              // last watermark sent on

	source Source
	ops    []Operator // operators after the source (all of them if none)
	opIdx  []int      // chain index of each op
	links  []Collector
	cur    int // chain index running now, for errors and panics

	exhausted    atomic.Bool
	rowsRecv     atomic.Int64
	bytesRecv    atomic.Int64
	rowsSent     atomic.Int64
	bytesSent    atomic.Int64
	blockedNanos atomic.Int64
	blockedSince atomic.Int64
	watermarkNow atomic.Int64

	// Checkpointing: barrier requests of a source subtask; halted once a
	// final barrier has gone out; the alignment of other subtasks.
	barriers chan barrierReq
	halted   bool
	align    alignment
	replay   []Message
}

func (t *task) build(opts RunOptions, logger *slog.Logger) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = &TaskError{OperatorID: t.node.Chain[t.cur].ID, Subtask: t.subtask, Err: fmt.Errorf("panic building operator: %v", r)}
		}
	}()
	t.logger = logger.With("node_id", t.node.ID, "subtask", t.subtask)
	for i, spec := range t.node.Chain {
		t.cur = i
		info := TaskInfo{
			JobID:       opts.JobID,
			RunID:       opts.RunID,
			NodeID:      t.node.ID,
			OperatorID:  spec.ID,
			Subtask:     t.subtask,
			Parallelism: t.node.Parallelism,
			Output:      opts.Output,
			Logger:      t.logger.With("operator_id", spec.ID),
		}
		if spec.Kind == KindSource {
			src, err := spec.NewSource(info)
			if err != nil {
				return &TaskError{OperatorID: spec.ID, Subtask: t.subtask, Err: err}
			}
			t.source = src
			continue
		}
		op, err := spec.NewOperator(info)
		if err != nil {
			return &TaskError{OperatorID: spec.ID, Subtask: t.subtask, Err: err}
		}
		t.ops = append(t.ops, op)
		t.opIdx = append(t.opIdx, i)
	}
	if len(t.ops) > 0 && t.source == nil {
		if m, ok := t.ops[0].(MultiInputOperator); ok {
			t.multi = m
		}
	}
	t.lastWM = math.MinInt64
	t.watermarkNow.Store(math.MinInt64)
	// links[i] feeds ops[i]; the one past the end feeds the edges.
	t.links = make([]Collector, len(t.ops)+1)
	t.links[len(t.ops)] = CollectorFunc(t.send)
	for i := len(t.ops) - 1; i >= 0; i-- {
		t.links[i] = &link{t: t, i: i}
	}
	if k := len(t.ops) - 1; k >= 0 && t.node.Chain[t.opIdx[k]].Kind == KindSink {
		// What reaches a chain's sink has left the chain: count it as sent.
		inner := t.links[k]
		t.links[k] = CollectorFunc(func(ctx context.Context, b arrow.RecordBatch) error {
			t.rowsSent.Add(b.NumRows())
			t.bytesSent.Add(batchBytes(b))
			return inner.Collect(ctx, b)
		})
	}
	return nil
}

// link calls one operator of the chain, tagging its errors.
type link struct {
	t *task
	i int
}

func (l *link) Collect(ctx context.Context, b arrow.RecordBatch) error {
	t := l.t
	prev := t.cur
	t.cur = t.opIdx[l.i]
	err := t.ops[l.i].Process(ctx, b, t.links[l.i+1])
	if err != nil {
		err = t.tag(err)
	}
	t.cur = prev
	return err
}

func (t *task) tag(err error) error {
	var te *TaskError
	if errors.As(err, &te) {
		return err
	}
	return &TaskError{OperatorID: t.node.Chain[t.cur].ID, Subtask: t.subtask, Err: err}
}

func (t *task) run(ctx context.Context) {
	defer t.x.wg.Done()
	defer t.close()
	if err := t.runSafe(ctx); err != nil {
		if ctx.Err() == nil {
			t.logger.Error("subtask failed", "err", err)
		}
		t.x.fail(ctx, err)
	}
}

func (t *task) runSafe(ctx context.Context) (err error) {
	defer func() {
		if r := recover(); r != nil {
			t.logger.Error("operator panicked", "operator_id", t.node.Chain[t.cur].ID, "panic", r, "stack", string(debug.Stack()))
			err = &TaskError{OperatorID: t.node.Chain[t.cur].ID, Subtask: t.subtask, Err: fmt.Errorf("panic: %v", r)}
		}
	}()
	if t.source != nil {
		t.cur = 0
		if err := t.source.Run(ctx, t.x.stopCh, CollectorFunc(t.fromSource)); err != nil {
			return t.tag(err)
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if t.x.immediate.Load() {
			return context.Canceled
		}
		t.exhausted.Store(!t.x.stopping.Load())
	} else {
		for remaining := t.expected; remaining > 0; {
			m, err := t.next(ctx)
			if err != nil {
				return err
			}
			slot := t.wms.slot(m.Input, m.From)
			if t.align.holds(slot) {
				t.align.held = append(t.align.held, m)
				continue
			}
			t.wms.seen(m.Input, m.From)
			switch m.Signal {
			case SignalNone:
				if m.Batch == nil {
					continue
				}
				t.rowsRecv.Add(m.Batch.NumRows())
				t.bytesRecv.Add(batchBytes(m.Batch))
				if t.multi != nil {
					t.cur = t.opIdx[0]
					err = t.multi.ProcessInput(ctx, m.Input, m.Batch, t.links[1])
					if err != nil {
						err = t.tag(err)
					}
				} else {
					err = t.links[0].Collect(ctx, m.Batch)
				}
				m.Batch.Release()
				if err != nil {
					return err
				}
			case SignalWatermark:
				if wm, ok := t.wms.update(m.Input, m.From, m.Watermark); ok {
					if err := t.watermark(ctx, 0, wm); err != nil {
						return err
					}
				}
			case SignalBarrier:
				t.align.arrive(slot, m.Epoch, len(t.wms.wm))
				if err := t.aligned(ctx); err != nil {
					return err
				}
			case SignalEndOfStream:
				remaining--
				if wm, ok := t.wms.end(m.Input, m.From); ok && remaining > 0 {
					if err := t.watermark(ctx, 0, wm); err != nil {
						return err
					}
				}
				if err := t.aligned(ctx); err != nil {
					return err
				}
			}
		}
	}
	for i, op := range t.ops {
		t.cur = t.opIdx[i]
		if err := op.Finish(ctx, t.links[i+1]); err != nil {
			return t.tag(err)
		}
	}
	return t.sendEnd(ctx)
}

func (t *task) fromSource(ctx context.Context, b arrow.RecordBatch) error {
	if t.barriers != nil {
		if err := t.pollBarrier(ctx); err != nil {
			return err
		}
		if t.halted {
			// A final checkpoint has been taken: nothing after it may
			// reach the sinks. Wait to be cancelled.
			<-ctx.Done()
			return ctx.Err()
		}
	}
	// A source's output enters the chain: count it as received.
	t.rowsRecv.Add(b.NumRows())
	t.bytesRecv.Add(batchBytes(b))
	err := t.links[0].Collect(ctx, b)
	t.cur = 0
	if err != nil {
		return err
	}
	for i, op := range t.ops {
		g, ok := op.(WatermarkGenerator)
		if !ok {
			continue
		}
		if wm, ok := g.CurrentWatermark(); ok && wm > t.lastWM {
			if err := t.watermark(ctx, i+1, wm); err != nil {
				return err
			}
		}
	}
	return nil
}

// watermark passes a watermark to the chain's operators from index from
// on, then to every outgoing edge.
func (t *task) watermark(ctx context.Context, from int, wm int64) error {
	if wm <= t.lastWM {
		return nil
	}
	t.lastWM = wm
	t.watermarkNow.Store(wm)
	for i := from; i < len(t.ops); i++ {
		h, ok := t.ops[i].(WatermarkHandler)
		if !ok {
			continue
		}
		prev := t.cur
		t.cur = t.opIdx[i]
		err := h.ProcessWatermark(ctx, wm, t.links[i+1])
		if err != nil {
			return t.tag(err)
		}
		t.cur = prev
	}
	return t.broadcast(ctx, Message{Signal: SignalWatermark, Watermark: wm})
}

// broadcast sends a signal to every subtask of every outgoing edge.
func (t *task) broadcast(ctx context.Context, m Message) error {
	m.From = t.subtask
	for _, o := range t.outs {
		m.Input = o.input
		for _, box := range o.boxes {
			if err := t.deliver(ctx, box, m); err != nil {
				return err
			}
		}
	}
	return nil
}

// send hands a batch emitted by the chain to every outgoing edge.
func (t *task) send(ctx context.Context, b arrow.RecordBatch) error {
	if b.NumRows() == 0 || len(t.outs) == 0 {
		return nil
	}
	t.rowsSent.Add(b.NumRows())
	t.bytesSent.Add(batchBytes(b))
	for i := range t.outs {
		o := &t.outs[i]
		if o.part != nil {
			parts, err := o.part.split(ctx, b)
			if err != nil {
				return t.tag(err)
			}
			for d, pb := range parts {
				if pb == nil {
					continue
				}
				err := t.deliver(ctx, o.boxes[d], Message{Batch: pb, From: t.subtask, Input: o.input})
				if err != nil {
					pb.Release()
					for _, rest := range parts[d+1:] {
						if rest != nil {
							rest.Release()
						}
					}
					return err
				}
			}
			continue
		}
		box := o.boxes[o.next%len(o.boxes)]
		o.next++
		b.Retain()
		if err := t.deliver(ctx, box, Message{Batch: b, From: t.subtask, Input: o.input}); err != nil {
			b.Release()
			return err
		}
	}
	return nil
}

func (t *task) deliver(ctx context.Context, box Outbox, m Message) error {
	start := time.Now()
	t.blockedSince.Store(start.UnixNano())
	err := box.Send(ctx, m)
	t.blockedSince.Store(0)
	t.blockedNanos.Add(int64(time.Since(start)))
	return err
}

func (t *task) sendEnd(ctx context.Context) error {
	return t.broadcast(ctx, Message{Signal: SignalEndOfStream})
}

func (t *task) close() {
	closers := make([]Closer, 0, len(t.ops)+1)
	if c, ok := t.source.(Closer); ok {
		closers = append(closers, c)
	}
	for _, op := range t.ops {
		if c, ok := op.(Closer); ok {
			closers = append(closers, c)
		}
	}
	for _, c := range closers {
		func() {
			defer func() {
				if r := recover(); r != nil {
					t.logger.Error("operator panicked in Close", "panic", r)
				}
			}()
			if err := c.Close(); err != nil {
				t.logger.Warn("closing operator", "err", err)
			}
		}()
	}
}

// batchBytes is the in-memory size of a batch's buffers.
func batchBytes(b arrow.RecordBatch) int64 {
	var n int64
	for _, c := range b.Columns() {
		n += dataBytes(c.Data())
	}
	return n
}

func dataBytes(d arrow.ArrayData) int64 {
	var n int64
	for _, buf := range d.Buffers() {
		if buf != nil {
			n += int64(buf.Len())
		}
	}
	for _, c := range d.Children() {
		n += dataBytes(c)
	}
	return n
}

// LateRows is the number of rows the execution's operators dropped for
// arriving behind the watermark, per operator id (summed over subtasks).
// It is the hook for the late-events metric; executions not run by Local
// report nothing.
func LateRows(x Execution) map[string]int64 {
	ex, ok := x.(*execution)
	if !ok {
		return nil
	}
	out := map[string]int64{}
	for _, t := range ex.tasks {
		for i, op := range t.ops {
			if lc, ok := op.(LateCounter); ok {
				out[t.node.Chain[t.opIdx[i]].ID] += lc.LateRows()
			}
		}
	}
	return out
}

// Watermark is a subtask's current event-time watermark in microseconds
// (math.MinInt64 before the first one), for metrics.
func Watermark(x Execution, node, subtask int) (int64, bool) {
	ex, ok := x.(*execution)
	if !ok {
		return 0, false
	}
	for _, t := range ex.tasks {
		if t.node.ID == node && t.subtask == subtask {
			return t.watermarkNow.Load(), true
		}
	}
	return 0, false
}
