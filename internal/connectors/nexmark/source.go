package nexmark

import (
	"context"
	"time"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/runnel-dev/runnel/internal/engine"
)

// MaxBatchRows caps the rows of one emitted batch. Throttled sources emit
// what is due, so their batches are smaller at low rates.
const MaxBatchRows = 4096

// Source is one subtask of a nexmark source. Subtask s of p generates the
// event numbers s, s+p, s+2p, …; with an event rate R, event n is due R·n
// seconds after the start, so the subtasks share the rate.
type Source struct {
	cfg      Config
	schema   *arrow.Schema
	subtask  int
	par      int
	first    time.Time
	now      func() time.Time
	maxBatch int
	// emitted counts this subtask's events so far; a checkpoint would save
	// it to resume where it stopped.
	emitted int64
}

// NewSource makes the source of one subtask; first is the event time of
// event 0 (the same for every subtask of a run).
func NewSource(cfg Config, schema *arrow.Schema, subtask, parallelism int, first time.Time) *Source {
	return &Source{
		cfg: cfg, schema: schema, subtask: subtask, par: max(parallelism, 1), first: first,
		now: time.Now, maxBatch: MaxBatchRows,
	}
}

// count is how many events this subtask emits in total, or -1.
func (s *Source) count() int64 {
	total := s.cfg.TotalEvents()
	if total < 0 {
		return -1
	}
	par, sub := int64(s.par), int64(s.subtask)
	if total <= sub {
		return 0
	}
	return (total-sub-1)/par + 1
}

// Run implements engine.Source.
func (s *Source) Run(ctx context.Context, stop <-chan struct{}, out engine.Collector) error {
	g := NewGenerator(s.cfg.Seed, s.first, s.cfg.EventTimeRate, s.schema)
	limit := s.count()
	rate := s.cfg.EventRate
	par, sub := int64(s.par), int64(s.subtask)
	start := s.now()
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
	for limit < 0 || s.emitted < limit {
		select {
		case <-stop:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		default:
		}
		n := int64(s.maxBatch)
		if limit >= 0 {
			n = min(n, limit-s.emitted)
		}
		now := s.now()
		if rate > 0 {
			// The latest global event due now is floor(elapsed·R); ours
			// are those of the form sub + k·par.
			last := int64(now.Sub(start).Seconds() * rate)
			due := -s.emitted
			if last >= sub {
				due += (last-sub)/par + 1
			}
			if due <= 0 {
				next := sub + s.emitted*par
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
			n = min(n, due)
		} else if !deadline.IsZero() && !now.Before(deadline) {
			return nil
		}
		b := g.Batch(uint64(sub+s.emitted*par), uint64(par), int(n))
		err := out.Collect(ctx, b)
		b.Release()
		if err != nil {
			return err
		}
		s.emitted += n
	}
	return nil
}
