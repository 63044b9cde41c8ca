// Package benchrun runs a Nexmark query on the embedded engine (no server)
// and measures it: throughput, end-to-end latency and peak memory. It backs
// `runnel bench nexmark` and the bench/ micro-benchmarks.
//
// Definitions:
//
//   - events/s is the source's event count divided by the wall time from
//     starting the execution to its end (every sink finished). A query
//     that scans the nexmark table twice (q7, q8 self-joins) reads every
//     event twice; it still counts the events once.
//   - events/s per core is events/s ÷ min(parallelism, runtime.NumCPU()):
//     the cores the run could use, since every operator runs with the
//     same parallelism.
//   - end-to-end latency is measured per sink batch: the time from when
//     the sources had first emitted an event at least as late (in event
//     time) as the batch's latest event time, to when the sink received the
//     batch. For stateless queries that is exactly the batch's trip
//     through the dataflow, queues included; for windowed queries it is
//     the time from the window's last input event to its result. The
//     figures are upper bounds: with several source subtasks, the earliest
//     subtask to pass that event time counts.
//   - peak RSS is the process's high-water resident set (VmHWM in
//     /proc/self/status, reset at the start of the run where the kernel
//     allows it; getrusage's maxrss elsewhere).
package benchrun

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/runnel-dev/runnel/bench/nexmark"
	"github.com/runnel-dev/runnel/internal/engine"
	"github.com/runnel-dev/runnel/internal/sql"
	"github.com/runnel-dev/runnel/internal/state"
)

// Config is one benchmark run.
type Config struct {
	// Query is a name from nexmark.Names, e.g. "q5".
	Query string
	// Events is the total number of source events (> 0).
	Events int64
	// Parallelism of every operator (default 1).
	Parallelism int
	// Seed of the generator.
	Seed int64
	// EventTimeRate is events per second of event time (0: the nexmark
	// default, 10 M/s as in the Flink suite). Lower rates make a run span
	// more windows, e.g. to watch windowed state being released.
	EventTimeRate float64
	// Progress, if set, is called about every ProgressEvery with the
	// events emitted so far, and once more at the end.
	Progress      func(emitted, total int64)
	ProgressEvery time.Duration
	// Logger receives the engine's logs (default: discarded).
	Logger *slog.Logger
	// CheckpointInterval, if positive, checkpoints the run that often (one
	// epoch at a time) into a temporary directory, as a job would.
	CheckpointInterval time.Duration
}

// CheckpointStats sums up the checkpoints of a run.
type CheckpointStats struct {
	Count int `json:"count"`
	// MeanMs and MaxMs are epoch durations, from the request to the last
	// subtask's state being written.
	MeanMs float64 `json:"mean_ms"`
	MaxMs  float64 `json:"max_ms"`
	// MaxBytes and MaxRows are the largest epoch's state.
	MaxBytes int64 `json:"max_bytes"`
	MaxRows  int64 `json:"max_rows"`
}

// Result is what a run measured. The JSON keys are those of
// `runnel bench nexmark --json`.
type Result struct {
	Query               string  `json:"query"`
	Events              int64   `json:"events"`
	Parallelism         int     `json:"parallelism"`
	Seconds             float64 `json:"seconds"`
	EventsPerSec        float64 `json:"events_per_sec"`
	EventsPerSecPerCore float64 `json:"events_per_sec_per_core"`
	P50Ms               float64 `json:"p50_ms"`
	P99Ms               float64 `json:"p99_ms"`
	PeakRSSBytes        int64   `json:"peak_rss_bytes"`
	// Checkpoints is set when the run took checkpoints.
	Checkpoints *CheckpointStats `json:"checkpoints,omitempty"`
}

// Cores is the divisor of events/s per core: min(parallelism, NumCPU).
func Cores(parallelism int) int { return max(1, min(parallelism, runtime.NumCPU())) }

// Plan renders and plans a query with the blackhole sink.
func Plan(query string, events, seed int64, parallelism int) (*engine.Program, error) {
	return plan(query, nexmark.Source{Events: events, Seed: seed}, parallelism)
}

func plan(query string, src nexmark.Source, parallelism int) (*engine.Program, error) {
	q, err := nexmark.Render(query, src, nexmark.Blackhole)
	if err != nil {
		return nil, err
	}
	p, err := sql.Plan(q, sql.Options{Parallelism: parallelism})
	if err != nil {
		return nil, fmt.Errorf("plan %s: %w", query, err)
	}
	return p, nil
}

// Run plans and runs one benchmark to completion.
func Run(ctx context.Context, cfg Config) (Result, error) {
	if cfg.Events <= 0 {
		return Result{}, errors.New("events must be positive")
	}
	if cfg.Parallelism <= 0 {
		cfg.Parallelism = 1
	}
	if cfg.EventTimeRate < 0 {
		return Result{}, errors.New("event time rate must not be negative")
	}
	if cfg.ProgressEvery <= 0 {
		cfg.ProgressEvery = 200 * time.Millisecond
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	p, err := plan(cfg.Query, nexmark.Source{Events: cfg.Events, Seed: cfg.Seed, EventTimeRate: cfg.EventTimeRate}, cfg.Parallelism)
	if err != nil {
		return Result{}, err
	}
	m := newMeter(cfg.Parallelism)
	p, err = m.instrument(p)
	if err != nil {
		return Result{}, err
	}

	opts := engine.RunOptions{JobID: "bench-" + cfg.Query, RunID: 1, Logger: logger}
	var ck *checkpointer
	if cfg.CheckpointInterval > 0 {
		dir, err := os.MkdirTemp("", "runnel-bench-checkpoints-")
		if err != nil {
			return Result{}, err
		}
		defer os.RemoveAll(dir)
		st, err := state.Open(ctx, dir)
		if err != nil {
			return Result{}, err
		}
		ck = newCheckpointer(cfg.CheckpointInterval)
		opts.Checkpoints = &engine.CheckpointOptions{Store: st, OnReport: ck.report}
	}

	resetPeakRSS()
	began := time.Now()
	x, err := engine.NewRunner().Start(ctx, p, opts)
	if err != nil {
		return Result{}, fmt.Errorf("start %s: %w", cfg.Query, err)
	}
	tick := time.NewTicker(cfg.ProgressEvery)
	defer tick.Stop()
	var ckTick <-chan time.Time
	if ck != nil {
		t := time.NewTicker(min(cfg.CheckpointInterval, 20*time.Millisecond))
		defer t.Stop()
		ckTick = t.C
	}
wait:
	for {
		select {
		case <-ckTick:
			if err := ck.trigger(ctx, x); err != nil {
				return Result{}, err
			}
		case <-x.Done():
			break wait
		case <-ctx.Done():
			x.Stop(engine.StopImmediate)
			<-x.Done()
			return Result{}, fmt.Errorf("bench %s: %w", cfg.Query, ctx.Err())
		case <-tick.C:
			if cfg.Progress != nil {
				cfg.Progress(m.events(), cfg.Events)
			}
		}
	}
	elapsed := time.Since(began)
	if err := x.Err(); err != nil {
		return Result{}, fmt.Errorf("run %s: %w", cfg.Query, err)
	}
	if !x.Finished() {
		return Result{}, fmt.Errorf("run %s: ended before its source was exhausted", cfg.Query)
	}
	emitted := m.events()
	if cfg.Progress != nil {
		cfg.Progress(emitted, cfg.Events)
	}
	if total := m.emitted.Load(); total != cfg.Events*int64(m.sources) {
		return Result{}, fmt.Errorf("run %s: %d source operators emitted %d events, want %d each", cfg.Query, m.sources, total, cfg.Events)
	}
	secs := elapsed.Seconds()
	p50, p99 := m.percentiles()
	var stats *CheckpointStats
	if ck != nil {
		stats = ck.stats()
	}
	return Result{
		Checkpoints:         stats,
		Query:               cfg.Query,
		Events:              emitted,
		Parallelism:         cfg.Parallelism,
		Seconds:             secs,
		EventsPerSec:        float64(emitted) / secs,
		EventsPerSecPerCore: float64(emitted) / secs / float64(Cores(cfg.Parallelism)),
		P50Ms:               p50,
		P99Ms:               p99,
		PeakRSSBytes:        peakRSS(),
	}, nil
}

// meter watches the sources and sinks of one run.
type meter struct {
	// emitted counts every source subtask's events. A query that reads
	// the nexmark table twice (a self-join) has two source operators,
	// each reading the whole stream.
	emitted atomic.Int64
	sources int // source operators
	slots   map[string]int

	mu sync.Mutex
	// marks[s] are source subtask s's batches in emit order: their
	// latest event time (µs) and when they were emitted. Both grow, since
	// a subtask emits its events in order.
	marks     [][]mark
	lastEmit  time.Time
	latencies []time.Duration
}

type mark struct {
	maxTs int64
	at    time.Time
}

func newMeter(parallelism int) *meter {
	return &meter{marks: make([][]mark, 0, parallelism), slots: map[string]int{}}
}

// events is the events read so far per source operator.
func (m *meter) events() int64 { return m.emitted.Load() / int64(max(m.sources, 1)) }

// slot numbers a source subtask's list of marks.
func (m *meter) slot(op string, subtask int) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	key := fmt.Sprintf("%s/%d", op, subtask)
	s, ok := m.slots[key]
	if !ok {
		s = len(m.marks)
		m.slots[key] = s
		m.marks = append(m.marks, nil)
	}
	return s
}

// instrument returns a copy of p whose sources and sinks report to m.
func (m *meter) instrument(p *engine.Program) (*engine.Program, error) {
	nodes := make([]*engine.Node, len(p.Nodes))
	for i, n := range p.Nodes {
		c := *n
		c.Chain = slices.Clone(n.Chain)
		for j := range c.Chain {
			op := &c.Chain[j]
			switch op.Kind {
			case engine.KindSource:
				m.sources++
				inner, id := op.NewSource, op.ID
				op.NewSource = func(info engine.TaskInfo) (engine.Source, error) {
					s, err := inner(info)
					if err != nil {
						return nil, err
					}
					return &meteredSource{Source: s, m: m, slot: m.slot(id, info.Subtask)}, nil
				}
			case engine.KindSink:
				inner := op.NewOperator
				op.NewOperator = func(info engine.TaskInfo) (engine.Operator, error) {
					o, err := inner(info)
					if err != nil {
						return nil, err
					}
					return &meteredSink{Operator: o, m: m}, nil
				}
			}
		}
		nodes[i] = &c
	}
	q, err := engine.NewProgram(nodes, p.Edges)
	if err != nil {
		return nil, fmt.Errorf("instrument program: %w", err)
	}
	return q, nil
}

func (m *meter) emit(slot int, b arrow.RecordBatch) {
	m.emitted.Add(b.NumRows())
	ts, ok := maxEventTime(b)
	now := time.Now()
	m.mu.Lock()
	defer m.mu.Unlock()
	m.lastEmit = now
	if !ok {
		return
	}
	if l := m.marks[slot]; len(l) > 0 && l[len(l)-1].maxTs >= ts {
		return // keep the list increasing; the earlier mark already covers ts
	}
	m.marks[slot] = append(m.marks[slot], mark{maxTs: ts, at: now})
}

// receive records the latency of one sink batch.
func (m *meter) receive(b arrow.RecordBatch) {
	if b.NumRows() == 0 {
		return
	}
	now := time.Now()
	ts, ok := maxEventTime(b)
	m.mu.Lock()
	defer m.mu.Unlock()
	from := m.lastEmit
	if ok {
		var best time.Time
		for _, l := range m.marks {
			i := sort.Search(len(l), func(i int) bool { return l[i].maxTs >= ts })
			if i < len(l) && (best.IsZero() || l[i].at.Before(best)) {
				best = l[i].at
			}
		}
		if !best.IsZero() {
			from = best
		}
	}
	if from.IsZero() {
		return
	}
	m.latencies = append(m.latencies, now.Sub(from))
}

// percentiles are the nearest-rank p50 and p99 latencies in ms.
func (m *meter) percentiles() (p50, p99 float64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.latencies) == 0 {
		return 0, 0
	}
	l := slices.Clone(m.latencies)
	slices.Sort(l)
	return ms(rank(l, 0.50)), ms(rank(l, 0.99))
}

func rank(sorted []time.Duration, q float64) time.Duration {
	i := int(q*float64(len(sorted))+0.999999) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// maxEventTime is the latest event time (µs) in a batch's event-time column.
func maxEventTime(b arrow.RecordBatch) (int64, bool) {
	idx := b.Schema().FieldIndices(engine.TimestampField)
	if len(idx) != 1 {
		return 0, false
	}
	col, ok := b.Column(idx[0]).(*array.Timestamp)
	if !ok || col.Len() == 0 {
		return 0, false
	}
	unit := col.DataType().(*arrow.TimestampType).Unit
	var best int64
	found := false
	for i := 0; i < col.Len(); i++ {
		if col.IsValid(i) {
			v := col.Value(i).ToTime(unit).UnixMicro()
			if !found || v > best {
				best, found = v, true
			}
		}
	}
	return best, found
}

type meteredSource struct {
	engine.Source
	m    *meter
	slot int
}

// Snapshot passes checkpoints through to the wrapped source.
func (s *meteredSource) Snapshot(ctx context.Context, epoch int64) (*arrow.Schema, []arrow.RecordBatch, error) {
	if sn, ok := s.Source.(engine.Snapshotter); ok {
		return sn.Snapshot(ctx, epoch)
	}
	return nil, nil, nil
}

func (s *meteredSource) Run(ctx context.Context, stop <-chan struct{}, out engine.Collector) error {
	return s.Source.Run(ctx, stop, engine.CollectorFunc(func(ctx context.Context, b arrow.RecordBatch) error {
		s.m.emit(s.slot, b)
		return out.Collect(ctx, b)
	}))
}

type meteredSink struct {
	engine.Operator
	m *meter
}

func (s *meteredSink) Process(ctx context.Context, b arrow.RecordBatch, out engine.Collector) error {
	s.m.receive(b)
	return s.Operator.Process(ctx, b, out)
}

// Close closes the wrapped sink if it holds resources.
func (s *meteredSink) Close() error {
	if c, ok := s.Operator.(engine.Closer); ok {
		return c.Close()
	}
	return nil
}
