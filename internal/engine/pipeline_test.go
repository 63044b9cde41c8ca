package engine_test

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sort"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/runnel-dev/runnel/internal/connectors"
	"github.com/runnel-dev/runnel/internal/connectors/collect"
	"github.com/runnel-dev/runnel/internal/connectors/impulse"
	"github.com/runnel-dev/runnel/internal/engine"
	"github.com/runnel-dev/runnel/internal/metrics"
	"github.com/runnel-dev/runnel/internal/output"
	"github.com/runnel-dev/runnel/internal/sql"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// plan plans a query whose sinks may use the 'collect' connector c.
func plan(t testing.TB, q string, c *collect.Connector, opts sql.Options) *engine.Program {
	t.Helper()
	reg := connectors.Default().Clone()
	if c != nil {
		if err := reg.Register(c); err != nil {
			t.Fatal(err)
		}
	}
	opts.Connectors = reg
	p, err := sql.Plan(q, opts)
	if err != nil {
		t.Fatalf("plan: %v", err)
	}
	return p
}

func start(t testing.TB, r engine.Runner, p *engine.Program, out output.Sink) engine.Execution {
	t.Helper()
	x, err := r.Start(context.Background(), p, engine.RunOptions{JobID: "job_test", Output: out})
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	t.Cleanup(func() {
		x.Stop(engine.StopImmediate)
		<-x.Done()
	})
	return x
}

func wait(t testing.TB, x engine.Execution, d time.Duration) {
	t.Helper()
	select {
	case <-x.Done():
	case <-time.After(d):
		t.Fatalf("execution did not end within %s", d)
	}
}

const filterQuery = `
CREATE TABLE impulse WITH (connector = 'impulse', event_rate = '0', message_count = '1000');
CREATE TABLE out (counter BIGINT, bucket TEXT, tenth DOUBLE, label TEXT, odd BOOLEAN) WITH (connector = 'collect');
INSERT INTO out
SELECT counter,
       CASE WHEN counter < 100 THEN 'low' WHEN counter < 500 THEN 'mid' ELSE 'high' END,
       CAST(counter AS DOUBLE) / 10,
       concat('n', CAST(counter AS TEXT)),
       counter % 2 = 1
FROM impulse
WHERE counter % 3 = 0`

func TestPipelineExactOutput(t *testing.T) {
	for _, par := range []int{1, 3} {
		t.Run(fmt.Sprintf("parallelism=%d", par), func(t *testing.T) {
			c := collect.New()
			p := plan(t, filterQuery, c, sql.Options{Parallelism: par})
			x := start(t, engine.NewRunner(), p, nil)
			wait(t, x, 10*time.Second)
			if err := x.Err(); err != nil {
				t.Fatalf("Err = %v", err)
			}
			if !x.Finished() {
				t.Fatal("Finished = false for a bounded source")
			}
			if got := c.Finished(); got != par {
				t.Errorf("%d sink subtasks finished, want %d", got, par)
			}
			rows := c.Rows()
			if len(rows) != 334 {
				t.Fatalf("got %d rows, want 334", len(rows))
			}
			sort.Slice(rows, func(i, j int) bool { return rows[i]["counter"].(float64) < rows[j]["counter"].(float64) })
			for i, r := range rows {
				n := float64(3 * i)
				want := map[string]any{
					"counter": n,
					"bucket":  map[bool]string{true: "low", false: map[bool]string{true: "mid", false: "high"}[n < 500]}[n < 100],
					"tenth":   n / 10,
					"label":   fmt.Sprintf("n%d", 3*i),
					"odd":     int(n)%2 == 1,
				}
				if fmt.Sprint(r) != fmt.Sprint(want) {
					t.Fatalf("row %d = %v, want %v", i, r, want)
				}
			}
		})
	}
}

func TestMetricsMatchRows(t *testing.T) {
	c := collect.New()
	// Parallelism 2 with a preview sink beside the real one gives three
	// nodes: source chain, collect sink, preview sink (parallelism 1).
	p := plan(t, filterQuery, c, sql.Options{Parallelism: 2, Preview: true, EnableSinks: true})
	if len(p.Nodes) != 3 {
		t.Fatalf("got %d nodes: %+v", len(p.Nodes), p.View())
	}
	out := &memOutput{}
	x := start(t, engine.NewRunner(), p, out)
	wait(t, x, 10*time.Second)
	if err := x.Err(); err != nil {
		t.Fatal(err)
	}
	if x.Tasks() != 5 {
		t.Errorf("Tasks = %d, want 5", x.Tasks())
	}
	byNode := map[int][]metrics.TaskCounters{}
	for _, m := range x.Metrics() {
		byNode[m.NodeID] = append(byNode[m.NodeID], m)
	}
	sum := func(node int, f func(metrics.TaskCounters) int64) int64 {
		var s int64
		for _, m := range byNode[node] {
			s += f(m)
		}
		return s
	}
	recv := func(m metrics.TaskCounters) int64 { return m.MessagesRecv }
	sent := func(m metrics.TaskCounters) int64 { return m.MessagesSent }
	if got := sum(1, recv); got != 1000 {
		t.Errorf("source chain received %d rows from its source, want 1000", got)
	}
	// The source chain's output goes to both sinks; it is counted once.
	if got := sum(1, sent); got != 334 {
		t.Errorf("source chain sent %d rows, want 334", got)
	}
	if got := sum(2, recv); got != 334 {
		t.Errorf("collect sink received %d, want 334", got)
	}
	if got := sum(3, recv); got != 334 {
		t.Errorf("preview sink received %d, want 334", got)
	}
	for _, m := range x.Metrics() {
		if m.BytesRecv < 0 || (m.MessagesRecv > 0 && m.BytesRecv == 0) {
			t.Errorf("node %d/%d: %d rows but %d bytes", m.NodeID, m.Subtask, m.MessagesRecv, m.BytesRecv)
		}
		if m.NodeID != 1 && (m.QueueSize != engine.DefaultQueueSize || m.QueueRem != m.QueueSize) {
			t.Errorf("node %d/%d: queue %d/%d after the end", m.NodeID, m.Subtask, m.QueueRem, m.QueueSize)
		}
	}
	if got := out.rows(); got != 334 {
		t.Errorf("preview output has %d rows, want 334", got)
	}
	if !out.done() {
		t.Error("preview output did not end with done")
	}
}

type memOutput struct {
	mu sync.Mutex
	ds []output.Data
}

func (m *memOutput) Send(_ context.Context, d output.Data) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.ds = append(m.ds, d)
	return nil
}

func (m *memOutput) rows() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	for _, d := range m.ds {
		n += len(d.Timestamps)
	}
	return n
}

func (m *memOutput) done() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.ds) > 0 && m.ds[len(m.ds)-1].Done && m.ds[len(m.ds)-1].Batch == "[]"
}

const unboundedQuery = `
CREATE TABLE impulse WITH (connector = 'impulse');
CREATE TABLE out WITH (connector = 'collect');
INSERT INTO out SELECT counter, subtask_index FROM impulse`

// A sink slower than its source must slow the source down: the queue
// between them fills and stays bounded, and the source reports
// backpressure.
func TestBackpressureBoundsQueues(t *testing.T) {
	c := collect.New()
	c.Delay = 50 * time.Millisecond
	// A preview sink beside the collecting sink splits the chain, so the
	// sink is a node of its own behind a queue.
	p := plan(t, unboundedQuery, c, sql.Options{Parallelism: 1, Preview: true, EnableSinks: true})
	r := &engine.Local{QueueSize: 2}
	x := start(t, r, p, nil)
	x.Metrics() // start the backpressure window
	time.Sleep(600 * time.Millisecond)
	ms := x.Metrics()
	var src, sink metrics.TaskCounters
	for _, m := range ms {
		switch m.NodeID {
		case 1:
			src = m
		case 2:
			sink = m
		}
	}
	// At most the queue, one batch being processed and one being sent can
	// be in flight.
	const batch = impulse.MaxBatchRows
	if inflight := src.MessagesSent - sink.MessagesRecv; inflight > int64((2+2)*batch) {
		t.Errorf("%d rows in flight between source and sink, want at most %d", inflight, 4*batch)
	}
	if sink.QueueSize != 2 || sink.QueueRem < 0 || sink.QueueRem > 2 {
		t.Errorf("sink queue %d/%d", sink.QueueRem, sink.QueueSize)
	}
	// The source needs a few ms per batch even under the race detector on a
	// loaded machine; the sink needs 50.
	if src.Backpressure < 0.3 {
		t.Errorf("source backpressure = %.2f, want most of the time blocked", src.Backpressure)
	}
	if sink.Backpressure > 0.1 {
		t.Errorf("sink backpressure = %.2f, want ~0", sink.Backpressure)
	}
	x.Stop(engine.StopImmediate)
	wait(t, x, 5*time.Second)
}

// A graceful stop ends the sources and lets what is in flight reach the
// sinks: every row the source emitted is delivered.
func TestGracefulStopDrains(t *testing.T) {
	c := collect.New()
	c.Delay = 2 * time.Millisecond
	p := plan(t, unboundedQuery, c, sql.Options{Parallelism: 2, Preview: true, EnableSinks: true})
	x := start(t, &engine.Local{QueueSize: 4}, p, nil)
	time.Sleep(100 * time.Millisecond)
	x.Stop(engine.StopGraceful)
	wait(t, x, 10*time.Second)
	if err := x.Err(); err != nil {
		t.Fatalf("Err = %v", err)
	}
	if x.Finished() {
		t.Error("Finished = true after a stop of unbounded sources")
	}
	var emitted int64
	for _, m := range x.Metrics() {
		if m.NodeID == 1 {
			emitted += m.MessagesRecv
		}
	}
	if emitted == 0 {
		t.Fatal("source emitted nothing")
	}
	if got := int64(len(c.Rows())); got != emitted {
		t.Errorf("sink got %d rows, source emitted %d", got, emitted)
	}
	if c.Finished() != 2 {
		t.Errorf("%d sink subtasks finished normally, want 2", c.Finished())
	}
}

// An immediate stop cancels at once, even with a sink stuck in a slow
// write.
func TestImmediateStopCancels(t *testing.T) {
	c := collect.New()
	c.Delay = time.Hour
	p := plan(t, unboundedQuery, c, sql.Options{Parallelism: 2})
	x := start(t, engine.NewRunner(), p, nil)
	for deadline := time.Now().Add(5 * time.Second); c.Batches() == 0; {
		if time.Now().After(deadline) {
			t.Fatal("no batch reached the sink")
		}
		time.Sleep(time.Millisecond)
	}
	began := time.Now()
	x.Stop(engine.StopImmediate)
	wait(t, x, 2*time.Second)
	if d := time.Since(began); d > time.Second {
		t.Errorf("immediate stop took %s", d)
	}
	if err := x.Err(); err != nil {
		t.Errorf("Err = %v, want nil after a stop", err)
	}
	if x.Finished() || c.Finished() != 0 {
		t.Errorf("Finished = %v, sinks finished = %d; want neither", x.Finished(), c.Finished())
	}
}

func TestContextCancelStopsEverything(t *testing.T) {
	c := collect.New()
	p := plan(t, unboundedQuery, c, sql.Options{Parallelism: 2, Preview: true, EnableSinks: true})
	ctx, cancel := context.WithCancel(context.Background())
	x, err := engine.NewRunner().Start(ctx, p, engine.RunOptions{})
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(20 * time.Millisecond)
	cancel()
	wait(t, x, 2*time.Second)
	if x.Finished() {
		t.Error("Finished after cancel")
	}
}

func TestOperatorPanicBecomesTaskError(t *testing.T) {
	c := collect.New()
	c.PanicAfter = 3
	p := plan(t, unboundedQuery, c, sql.Options{Parallelism: 2, Preview: true, EnableSinks: true})
	x := start(t, engine.NewRunner(), p, nil)
	wait(t, x, 5*time.Second)
	var te *engine.TaskError
	if !errors.As(x.Err(), &te) {
		t.Fatalf("Err = %v, want a *TaskError", x.Err())
	}
	if te.OperatorID != "sink_collect_2" {
		t.Errorf("OperatorID = %q, want sink_collect_2", te.OperatorID)
	}
	if want := "panic: collect: planned panic"; len(te.Err.Error()) < len(want) || te.Err.Error()[:len(want)] != want {
		t.Errorf("Err = %q", te.Err)
	}
	if x.Finished() {
		t.Error("Finished after a failure")
	}
}

func TestRuntimeErrorBecomesTaskError(t *testing.T) {
	q := `CREATE TABLE impulse WITH (connector = 'impulse', message_count = '100');
CREATE TABLE out WITH (connector = 'blackhole');
INSERT INTO out SELECT 10 / (counter - 50) AS x FROM impulse`
	p := plan(t, q, nil, sql.Options{Parallelism: 1})
	x := start(t, engine.NewRunner(), p, nil)
	wait(t, x, 5*time.Second)
	var te *engine.TaskError
	if !errors.As(x.Err(), &te) || te.OperatorID != "project_1" || te.Subtask != 0 {
		t.Fatalf("Err = %#v, want a TaskError from project_1", x.Err())
	}
}

func TestRateLimitedSource(t *testing.T) {
	q := `CREATE TABLE impulse WITH (connector = 'impulse', event_rate = '200', message_count = '40');
SELECT counter FROM impulse`
	p := plan(t, q, nil, sql.Options{Parallelism: 2})
	out := &memOutput{}
	began := time.Now()
	x := start(t, engine.NewRunner(), p, out)
	wait(t, x, 5*time.Second)
	// 40 events at 200/s take ~195 ms.
	if d := time.Since(began); d < 150*time.Millisecond {
		t.Errorf("40 events at 200/s took %s", d)
	}
	if !x.Finished() || out.rows() != 40 {
		t.Errorf("Finished = %v, rows = %d", x.Finished(), out.rows())
	}
}

// Many short runs must leave no goroutine behind (goleak checks the whole
// package at exit; this checks a run's own goroutines settle too).
func TestNoGoroutinesLeft(t *testing.T) {
	before := runtime.NumGoroutine()
	for i := 0; i < 20; i++ {
		p := plan(t, filterQuery, collect.New(), sql.Options{Parallelism: 3})
		x, err := engine.NewRunner().Start(context.Background(), p, engine.RunOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if i%2 == 1 {
			x.Stop(engine.StopImmediate)
		}
		<-x.Done()
	}
	deadline := time.Now().Add(2 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		t.Errorf("%d goroutines before, %d after", before, n)
	}
}
