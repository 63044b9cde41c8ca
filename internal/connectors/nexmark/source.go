package nexmark

import (
	"context"
	"fmt"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/runnel-dev/runnel/internal/connectors"
	"github.com/runnel-dev/runnel/internal/engine"
)

// MaxBatchRows caps the rows of one emitted batch. Throttled sources emit
// what is due, so their batches are smaller at low rates.
const MaxBatchRows = 4096

// Source is one subtask of a nexmark source. Subtask s of p generates the
// event numbers s, s+p, s+2p, …; with an event rate R, event n is due R·n
// seconds after the start, so the subtasks share the rate. Its position
// and the run's first event time are checkpointed, so a restored run (at
// any parallelism) generates exactly the events not emitted yet, with the
// same event times.
type Source struct {
	cfg      Config
	schema   *arrow.Schema
	par      int
	first    time.Time
	now      func() time.Time
	maxBatch int
	pos      *connectors.Stride
	// skip is what the query does not read (see Skips).
	skip Skips
}

// NewSource makes the source of one subtask; first is the event time of
// event 0 (the same for every subtask of a run).
func NewSource(cfg Config, schema *arrow.Schema, subtask, parallelism int, first time.Time) *Source {
	return &Source{
		cfg: cfg, schema: schema, par: max(parallelism, 1), first: first,
		now: time.Now, maxBatch: MaxBatchRows, pos: connectors.NewStride(subtask, parallelism),
	}
}

// Run implements engine.Source.
func (s *Source) Run(ctx context.Context, stop <-chan struct{}, out engine.Collector) error {
	g := NewGenerator(s.cfg.Seed, s.first, s.cfg.EventTimeRate, s.schema)
	g.skip = s.skip
	total := s.cfg.TotalEvents()
	rate := s.cfg.EventRate
	par := int64(s.par)
	start := s.now()
	if rate > 0 {
		// A restored run keeps the pace from where it stopped.
		start = start.Add(-time.Duration(float64(s.pos.Peek()) / rate * float64(time.Second)))
	}
	var deadline time.Time
	if s.cfg.Runtime > 0 && rate == 0 {
		deadline = start.Add(s.cfg.Runtime)
	}
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		select {
		case <-stop:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		default:
		}
		next := s.pos.Peek()
		if total >= 0 && next >= total {
			return nil
		}
		n := int64(s.maxBatch)
		now := s.now()
		if rate > 0 {
			// The latest global event due now is floor(elapsed·R); ours
			// are every par-th from next.
			last := int64(now.Sub(start).Seconds() * rate)
			if last < next {
				wait := start.Add(time.Duration(float64(next) / rate * float64(time.Second))).Sub(now)
				if timer == nil {
					timer = time.NewTimer(wait)
				} else {
					timer.Reset(wait)
				}
				select {
				case <-stop:
					return nil
				case <-ctx.Done():
					return ctx.Err()
				case <-timer.C:
				}
				continue
			}
			n = min(n, (last-next)/par+1)
		} else if !deadline.IsZero() && !now.Before(deadline) {
			return nil
		}
		// The position moves once the batch is handed over: a checkpoint
		// taken inside Collect describes the state before it.
		save := *s.pos
		first, cnt := s.pos.NextRun(n, total)
		after := *s.pos
		*s.pos = save
		if cnt == 0 {
			return nil
		}
		b := g.Batch(uint64(first), uint64(par), int(cnt))
		err := out.Collect(ctx, b)
		b.Release()
		if err != nil {
			return err
		}
		*s.pos = after
	}
}

var stateFirst = arrow.Field{Name: "first_event_time", Type: arrow.PrimitiveTypes.Int64}

// Snapshot implements engine.Snapshotter: the position, and the first
// event time, which a restored run must keep for event times to match.
func (s *Source) Snapshot(ctx context.Context, epoch int64) (*arrow.Schema, []arrow.RecordBatch, error) {
	schema, recs, err := s.pos.Snapshot(ctx, epoch)
	if err != nil {
		return nil, nil, err
	}
	rec := recs[0]
	defer rec.Release()
	fb := array.NewInt64Builder(memory.DefaultAllocator)
	defer fb.Release()
	for i := 0; i < int(rec.NumRows()); i++ {
		fb.Append(s.first.UnixMicro())
	}
	col := fb.NewArray()
	defer col.Release()
	out := arrow.NewSchema(append(append([]arrow.Field(nil), schema.Fields()...), stateFirst), nil)
	return out, []arrow.RecordBatch{array.NewRecordBatch(out, append(rec.Columns(), col), rec.NumRows())}, nil
}

// Restore implements engine.Restorer.
func (s *Source) Restore(ctx context.Context, st engine.RestoredState) error {
	pos := engine.RestoredState{Epoch: st.Epoch, Parallelism: st.Parallelism}
	for _, p := range st.Parts {
		var bs []arrow.RecordBatch
		for _, b := range p.Batches {
			n := int(b.NumCols())
			if n < 2 || b.Schema().Field(n-1).Name != stateFirst.Name {
				return fmt.Errorf("nexmark source state: unexpected schema %s", b.Schema())
			}
			if f, ok := b.Column(n - 1).(*array.Int64); ok && f.Len() > 0 {
				s.first = time.UnixMicro(f.Value(0)).UTC()
			}
			bs = append(bs, array.NewRecordBatch(arrow.NewSchema(b.Schema().Fields()[:n-1], nil), b.Columns()[:n-1], b.NumRows()))
		}
		pos.Parts = append(pos.Parts, engine.StatePart{Subtask: p.Subtask, Batches: bs})
	}
	defer func() {
		for _, p := range pos.Parts {
			for _, b := range p.Batches {
				b.Release()
			}
		}
	}()
	return s.pos.Restore(ctx, pos)
}
