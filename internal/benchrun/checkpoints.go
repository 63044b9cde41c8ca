package benchrun

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/runnel-dev/runnel/internal/engine"
)

// checkpointer takes a run's checkpoints one epoch at a time, as the
// controller does, and records what each cost.
type checkpointer struct {
	interval  time.Duration
	mu        sync.Mutex
	epoch     int64
	requested time.Time
	reports   []engine.CheckpointReport
	inflight  bool
	done      []epochCost
	failed    error
}

type epochCost struct {
	took        time.Duration
	bytes, rows int64
}

func newCheckpointer(interval time.Duration) *checkpointer {
	return &checkpointer{interval: interval}
}

func (c *checkpointer) report(r engine.CheckpointReport) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if r.Epoch != c.epoch {
		return
	}
	if r.Err != nil && c.failed == nil {
		c.failed = fmt.Errorf("checkpoint %d: %w", r.Epoch, r.Err)
	}
	c.reports = append(c.reports, r)
}

// trigger completes the epoch in flight if every subtask reported, and
// starts the next one an interval after the last one started.
func (c *checkpointer) trigger(ctx context.Context, x engine.Execution) error {
	c.mu.Lock()
	if c.failed != nil {
		defer c.mu.Unlock()
		return c.failed
	}
	if c.inflight && len(c.reports) >= x.Tasks() {
		cost := epochCost{}
		for _, r := range c.reports {
			cost.took = max(cost.took, r.Finished.Sub(c.requested))
			cost.bytes += r.Bytes
			cost.rows += r.Rows
		}
		c.done = append(c.done, cost)
		c.inflight = false
		epoch := c.epoch
		c.mu.Unlock()
		if err := x.Commit(ctx, epoch); err != nil {
			return err
		}
		c.mu.Lock()
	}
	if c.inflight || time.Since(c.requested) < c.interval {
		c.mu.Unlock()
		return nil
	}
	c.epoch++
	c.reports = nil
	c.requested = time.Now()
	c.inflight = true
	epoch := c.epoch
	c.mu.Unlock()
	return x.Checkpoint(epoch, false)
}

func (c *checkpointer) stats() *CheckpointStats {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := &CheckpointStats{Count: len(c.done)}
	var total time.Duration
	for _, d := range c.done {
		total += d.took
		s.MaxMs = max(s.MaxMs, ms(d.took))
		s.MaxBytes = max(s.MaxBytes, d.bytes)
		s.MaxRows = max(s.MaxRows, d.rows)
	}
	if len(c.done) > 0 {
		s.MeanMs = ms(total / time.Duration(len(c.done)))
	}
	return s
}
