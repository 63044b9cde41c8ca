package sql

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/runnel-dev/runnel/internal/engine"
	"github.com/runnel-dev/runnel/internal/output"
)

type memOut struct {
	mu sync.Mutex
	ds []output.Data
}

func (m *memOut) Send(_ context.Context, d output.Data) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.ds = append(m.ds, d)
	return nil
}

func (m *memOut) rows(t *testing.T) []map[string]any {
	m.mu.Lock()
	defer m.mu.Unlock()
	var all []map[string]any
	for _, d := range m.ds {
		var rows []map[string]any
		if err := json.Unmarshal([]byte(d.Batch), &rows); err != nil {
			t.Fatalf("batch %q: %v", d.Batch, err)
		}
		all = append(all, rows...)
	}
	return all
}

// Struct columns (nexmark's person, auction, bid) are read with s.f,
// t.s.f or (s).f.
func TestStructFields(t *testing.T) {
	q := `CREATE TABLE nexmark WITH (connector = 'nexmark', events = '1000');
SELECT bid.auction, nexmark.bid.price AS p, (bid).channel, bid FROM nexmark WHERE bid IS NOT NULL AND bid.price > 0`
	p, err := Plan(q, Options{Parallelism: 2})
	if err != nil {
		t.Fatal(err)
	}
	out := &memOut{}
	x, err := engine.NewRunner().Start(context.Background(), p, engine.RunOptions{Output: out})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-x.Done():
	case <-time.After(20 * time.Second):
		t.Fatal("timeout")
	}
	if err := x.Err(); err != nil {
		t.Fatal(err)
	}
	rows := out.rows(t)
	if len(rows) == 0 || len(rows) > 1000 {
		t.Fatalf("%d bids", len(rows))
	}
	for _, r := range rows {
		bid, ok := r["bid"].(map[string]any)
		if !ok || r["auction"] != bid["auction"] || r["p"] != bid["price"] || r["channel"] != bid["channel"] || r["p"].(float64) <= 0 {
			t.Fatalf("row %v", r)
		}
	}

	_, err = Plan(`CREATE TABLE nexmark WITH (connector = 'nexmark'); SELECT bid.pricee FROM nexmark`, Options{})
	var pe *Error
	if !errors.As(err, &pe) || !strings.Contains(pe.Diagnostics[0].Message, "has no field 'pricee'") || pe.Diagnostics[0].Span.Start.Column != 63 {
		t.Errorf("unknown field: %+v", err)
	}
	_, err = Plan(impulseDDL+`SELECT counter.x FROM impulse`, Options{})
	if !errors.As(err, &pe) || !strings.Contains(pe.Diagnostics[0].Message, "not a struct") {
		t.Errorf("field of a number: %v", err)
	}
}
