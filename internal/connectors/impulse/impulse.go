// Package impulse is a source that generates a counter at a steady rate,
// for demos, tests and benchmarks.
package impulse

import (
	"context"
	"fmt"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/runnel-dev/runnel/internal/connectors"
	"github.com/runnel-dev/runnel/internal/engine"
	"github.com/runnel-dev/runnel/internal/engine/expr"
)

func init() { connectors.Register(Connector{}) }

// MaxBatchRows caps the rows of one emitted batch. Unthrottled sources fill
// whole batches, and per-batch costs (kernel calls, queue hand-offs)
// dominate below a few thousand rows; a rate-limited source emits only what
// is due, so this does not add latency.
const MaxBatchRows = 4096

// Config is the impulse table's options.
type Config struct {
	// EventRate is events per second for the whole source, split evenly
	// across subtasks; 0 means as fast as possible.
	EventRate float64
	// MessageCount bounds the total number of events; nil is unbounded.
	MessageCount *int64
}

// ParseConfig reads the options event_rate and message_count.
func ParseConfig(o *connectors.Options) (Config, error) {
	var c Config
	rate, _, err := o.Float("event_rate")
	if err != nil {
		return c, err
	}
	if rate < 0 {
		return c, &connectors.OptionError{Key: "event_rate", Msg: "option 'event_rate' must not be negative"}
	}
	c.EventRate = rate
	n, ok, err := o.Int("message_count")
	if err != nil {
		return c, err
	}
	if ok {
		if n < 0 {
			return c, &connectors.OptionError{Key: "message_count", Msg: "option 'message_count' must not be negative"}
		}
		c.MessageCount = &n
	}
	return c, nil
}

// Columns is the fixed schema of an impulse table.
var Columns = []connectors.Column{
	{Name: "counter", Type: arrow.PrimitiveTypes.Int64},
	{Name: "subtask_index", Type: arrow.PrimitiveTypes.Int64},
	{Name: "timestamp", Type: expr.Timestamp},
}

// Connector is the impulse connector.
type Connector struct{}

// Descriptor implements connectors.Connector.
func (Connector) Descriptor() connectors.Descriptor {
	return connectors.Descriptor{
		ID:          "impulse",
		Name:        "Impulse",
		Icon:        icon,
		Description: "Periodic demo source",
		TableConfig: tableConfig,
		Enabled:     true,
		Source:      true,
	}
}

// NewTable implements connectors.Connector.
func (Connector) NewTable(spec connectors.TableSpec) (*connectors.Table, error) {
	if len(spec.Columns) > 0 {
		return nil, fmt.Errorf("impulse tables have a fixed schema (counter, subtask_index, timestamp); remove the column list")
	}
	cfg, err := ParseConfig(spec.Options)
	if err != nil {
		return nil, err
	}
	desc := "impulse (as fast as possible"
	if cfg.EventRate > 0 {
		desc = fmt.Sprintf("impulse (%g events/s", cfg.EventRate)
	}
	if cfg.MessageCount != nil {
		desc += fmt.Sprintf(", %d messages", *cfg.MessageCount)
	}
	desc += ")"
	schema := connectors.SchemaOf(Columns)
	return &connectors.Table{
		Columns:     Columns,
		Description: desc,
		NewSource: func(info engine.TaskInfo) (engine.Source, error) {
			return NewSource(cfg, schema, info.Subtask, info.Parallelism), nil
		},
	}, nil
}

// Source is one subtask of an impulse. Subtask s of p emits the counters
// s, s+p, s+2p, ... so that the whole source emits each counter below
// MessageCount exactly once, across checkpoints, restores and rescales.
type Source struct {
	cfg      Config
	schema   *arrow.Schema
	pos      *connectors.Stride
	par      int
	now      func() time.Time
	maxBatch int
}

// NewSource makes the source of one subtask.
func NewSource(cfg Config, schema *arrow.Schema, subtask, parallelism int) *Source {
	return &Source{cfg: cfg, schema: schema, pos: connectors.NewStride(subtask, parallelism), par: max(parallelism, 1), now: time.Now, maxBatch: MaxBatchRows}
}

// Snapshot implements engine.Snapshotter: the position in the counters.
func (s *Source) Snapshot(ctx context.Context, epoch int64) (*arrow.Schema, []arrow.RecordBatch, error) {
	return s.pos.Snapshot(ctx, epoch)
}

// Restore implements engine.Restorer.
func (s *Source) Restore(ctx context.Context, st engine.RestoredState) error {
	return s.pos.Restore(ctx, st)
}

// Run implements engine.Source.
func (s *Source) Run(ctx context.Context, stop <-chan struct{}, out engine.Collector) error {
	limit := int64(-1)
	if s.cfg.MessageCount != nil {
		limit = *s.cfg.MessageCount
	}
	rate := s.cfg.EventRate / float64(s.par) // per subtask
	mem := memory.DefaultAllocator
	counters := array.NewInt64Builder(mem)
	subtasks := array.NewInt64Builder(mem)
	stamps := array.NewTimestampBuilder(mem, expr.Timestamp)
	defer counters.Release()
	defer subtasks.Release()
	defer stamps.Release()

	// Pacing counts from what a restored run had already covered, so that
	// the rate holds and event times go on from there.
	base := s.pos.Emitted()
	start := s.now()
	if rate > 0 {
		start = start.Add(-time.Duration(float64(base) / rate * float64(time.Second)))
	}
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	sub := int64(s.pos.Subtask())
	for {
		select {
		case <-stop:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		default:
		}
		if limit >= 0 && s.pos.Peek() >= limit {
			return nil
		}
		n := int64(s.maxBatch)
		now := s.now()
		emitted := s.pos.Emitted()
		if rate > 0 {
			// Emit what is due by now; if nothing is, sleep until the next
			// event is due. At low rates this yields one-row batches, which
			// keeps latency low.
			due := int64(now.Sub(start).Seconds()*rate) + 1 - emitted
			if due <= 0 {
				next := start.Add(time.Duration(float64(emitted) / rate * float64(time.Second)))
				wait := next.Sub(now)
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
		}
		// The position moves only once the batch is handed over: a
		// checkpoint taken inside Collect describes the state before it.
		save := *s.pos
		rows := int64(0)
		for ; rows < n; rows++ {
			if limit >= 0 && s.pos.Peek() >= limit {
				break
			}
			idx := s.pos.Emitted()
			counters.Append(s.pos.Next())
			subtasks.Append(sub)
			ts := now
			if rate > 0 {
				ts = start.Add(time.Duration(float64(idx) / rate * float64(time.Second)))
			}
			stamps.Append(arrow.Timestamp(ts.UnixMicro()))
		}
		after := *s.pos
		*s.pos = save
		cols := []arrow.Array{counters.NewArray(), subtasks.NewArray(), stamps.NewArray()}
		// The event-time column shares the timestamp column's buffers.
		cols = append(cols, cols[2])
		cols[2].Retain()
		b := array.NewRecordBatch(s.schema, cols, rows)
		for _, c := range cols {
			c.Release()
		}
		err := out.Collect(ctx, b)
		b.Release()
		if err != nil {
			return err
		}
		*s.pos = after
	}
}

const tableConfig = `{"type":"object","title":"ImpulseTable","properties":{` +
	`"event_rate":{"type":"number","title":"event rate","description":"Events per second for the whole source; 0 is as fast as possible","minimum":0},` +
	`"message_count":{"type":"integer","title":"message count","description":"Number of events to generate; unbounded if absent","minimum":0}},` +
	`"required":[]}`

const icon = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 24 24" fill="none" stroke="currentColor" stroke-width="2"><polyline points="2 12 6 12 9 4 15 20 18 12 22 12"/></svg>`
