package impulse

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/runnel-dev/runnel/internal/connectors"
	"github.com/runnel-dev/runnel/internal/engine"
)

type rows struct {
	mu       sync.Mutex
	counters []int64
	batches  int
	maxBatch int64
}

func (r *rows) Collect(_ context.Context, b arrow.RecordBatch) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.batches++
	r.maxBatch = max(r.maxBatch, b.NumRows())
	c := b.Column(0).(*array.Int64)
	ts, et := b.Column(2).(*array.Timestamp), b.Column(3).(*array.Timestamp)
	for i := 0; i < c.Len(); i++ {
		r.counters = append(r.counters, c.Value(i))
		if ts.Value(i) != et.Value(i) {
			panic("timestamp and event time differ")
		}
	}
	return nil
}

func n64(n int64) *int64 { return &n }

func TestSubtasksSplitTheCount(t *testing.T) {
	for _, par := range []int{1, 3, 7} {
		cfg := Config{MessageCount: n64(1000)}
		r := &rows{}
		for s := 0; s < par; s++ {
			src := NewSource(cfg, connectors.SchemaOf(Columns), s, par)
			if err := src.Run(context.Background(), nil, r); err != nil {
				t.Fatal(err)
			}
		}
		seen := map[int64]bool{}
		for _, c := range r.counters {
			if seen[c] || c < 0 || c >= 1000 {
				t.Fatalf("parallelism %d: counter %d repeated or out of range", par, c)
			}
			seen[c] = true
		}
		if len(seen) != 1000 || r.maxBatch > MaxBatchRows {
			t.Errorf("parallelism %d: %d counters, largest batch %d", par, len(seen), r.maxBatch)
		}
	}
}

func TestRateLimit(t *testing.T) {
	// 100 events/s over 2 subtasks: each emits 10 events in ~200 ms, in
	// small batches.
	cfg := Config{EventRate: 100, MessageCount: n64(20)}
	r := &rows{}
	began := time.Now()
	var wg sync.WaitGroup
	for s := 0; s < 2; s++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := NewSource(cfg, connectors.SchemaOf(Columns), s, 2).Run(context.Background(), nil, r); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if d := time.Since(began); d < 150*time.Millisecond || d > 2*time.Second {
		t.Errorf("20 events at 100/s took %s", d)
	}
	// Each event is due 20 ms after the previous one, so batches stay small
	// (a late wake-up may merge a few).
	if len(r.counters) != 20 || r.batches < 4 {
		t.Errorf("%d events in %d batches", len(r.counters), r.batches)
	}
}

func TestStopAndCancel(t *testing.T) {
	src := NewSource(Config{EventRate: 1}, connectors.SchemaOf(Columns), 0, 1)
	stop := make(chan struct{})
	done := make(chan error)
	go func() { done <- src.Run(context.Background(), stop, &rows{}) }()
	time.Sleep(20 * time.Millisecond)
	close(stop)
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run after stop = %v", err)
		}
	case <-time.After(time.Second):
		t.Fatal("source ignored stop while waiting for its rate")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := NewSource(Config{}, connectors.SchemaOf(Columns), 0, 1).Run(ctx, nil, &rows{}); err == nil {
		t.Error("Run with a cancelled context returned nil")
	}
}

func TestTableOptions(t *testing.T) {
	for opts, ok := range map[string]bool{"": true, "event_rate=5": true, "event_rate=-1": false, "message_count=x": false, "message_count=-2": false} {
		vals := map[string]string{}
		if opts != "" {
			k, v, _ := cut(opts)
			vals[k] = v
		}
		_, err := Connector{}.NewTable(connectors.TableSpec{Name: "t", Options: connectors.NewOptions(vals)})
		if (err == nil) != ok {
			t.Errorf("%q: err = %v", opts, err)
		}
	}
	_, err := Connector{}.NewTable(connectors.TableSpec{Name: "t", Columns: Columns, Options: connectors.NewOptions(nil)})
	if err == nil {
		t.Error("declared columns accepted")
	}
	tbl, err := Connector{}.NewTable(connectors.TableSpec{Name: "t", Options: connectors.NewOptions(nil)})
	if err != nil || tbl.NewSource == nil || tbl.NewSink != nil {
		t.Fatalf("table %+v, %v", tbl, err)
	}
	if _, err := tbl.NewSource(engine.TaskInfo{Subtask: 0, Parallelism: 1}); err != nil {
		t.Error(err)
	}
}

func cut(s string) (string, string, bool) {
	for i := range s {
		if s[i] == '=' {
			return s[:i], s[i+1:], true
		}
	}
	return s, "", false
}
