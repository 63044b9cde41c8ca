// Package collect is a sink that keeps every row written to it in memory,
// for tests. It is not registered by default: a test adds a Connector to
// its own registry (connectors.Default().Clone()).
package collect

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/runnel-dev/runnel/internal/connectors"
	"github.com/runnel-dev/runnel/internal/connectors/preview"
	"github.com/runnel-dev/runnel/internal/engine"
)

// Connector collects rows. Its fields shape how the sink behaves.
type Connector struct {
	// Delay is slept per batch, to make a slow sink.
	Delay time.Duration
	// PanicAfter makes the sink panic on its n-th batch (0: never).
	PanicAfter int

	mu      sync.Mutex
	rows    []map[string]any
	batches int
	done    int
}

// New returns a collecting connector.
func New() *Connector { return &Connector{} }

// Descriptor implements connectors.Connector.
func (c *Connector) Descriptor() connectors.Descriptor {
	return connectors.Descriptor{
		ID:          "collect",
		Name:        "Collect",
		Description: "Keeps rows in memory (tests)",
		TableConfig: `{"type":"object","properties":{}}`,
		Enabled:     true,
		Sink:        true,
		Hidden:      true,
	}
}

// NewTable implements connectors.Connector.
func (c *Connector) NewTable(spec connectors.TableSpec) (*connectors.Table, error) {
	return &connectors.Table{
		Columns:     spec.Columns,
		Description: "collect",
		Updating:    true,
		NewSink: func(*arrow.Schema) func(engine.TaskInfo) (engine.Operator, error) {
			return func(engine.TaskInfo) (engine.Operator, error) { return &sink{c: c}, nil }
		},
	}, nil
}

// Rows returns a copy of the rows collected so far, each decoded from
// the same JSON the preview sink produces. Rows of an updating query are
// changes instead: {"before": row or nil, "after": row or nil, "op": "c",
// "u" or "d"}, as engine.Changes pairs them.
func (c *Connector) Rows() []map[string]any {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]map[string]any(nil), c.rows...)
}

// Batches is the number of batches received.
func (c *Connector) Batches() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.batches
}

// Finished is the number of sink subtasks whose input ended normally.
func (c *Connector) Finished() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.done
}

type sink struct{ c *Connector }

func (s *sink) Process(ctx context.Context, b arrow.RecordBatch, _ engine.Collector) error {
	c := s.c
	c.mu.Lock()
	c.batches++
	n := c.batches
	c.mu.Unlock()
	if c.PanicAfter > 0 && n >= c.PanicAfter {
		panic(fmt.Sprintf("collect: planned panic on batch %d", n))
	}
	var rows []map[string]any
	if err := json.Unmarshal([]byte(preview.EncodeRows(b)), &rows); err != nil {
		return fmt.Errorf("decode rows: %w", err)
	}
	if engine.IsUpdating(b.Schema()) {
		rows = changes(b, rows)
	}
	c.mu.Lock()
	c.rows = append(c.rows, rows...)
	c.mu.Unlock()
	if c.Delay > 0 {
		t := time.NewTimer(c.Delay)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

func (s *sink) Finish(context.Context, engine.Collector) error {
	s.c.mu.Lock()
	s.c.done++
	s.c.mu.Unlock()
	return nil
}

// changes turns the rows of an updating batch into change records.
func changes(b arrow.RecordBatch, rows []map[string]any) []map[string]any {
	row := func(i int) any {
		if i < 0 {
			return nil
		}
		delete(rows[i], engine.RetractField)
		return rows[i]
	}
	cs := engine.Changes(b)
	out := make([]map[string]any, len(cs))
	for i, c := range cs {
		out[i] = map[string]any{"before": row(c.Before), "after": row(c.After), "op": string(c.Op)}
	}
	return out
}
