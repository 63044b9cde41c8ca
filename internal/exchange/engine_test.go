package exchange

import (
	"context"
	"fmt"
	"log/slog"
	"sort"
	"testing"
	"time"

	"github.com/runnel-dev/runnel/internal/connectors"
	"github.com/runnel-dev/runnel/internal/connectors/collect"
	"github.com/runnel-dev/runnel/internal/engine"
	"github.com/runnel-dev/runnel/internal/sql"
)

// A keyed aggregate: impulse -> shuffle by key -> aggregate -> sink, with
// watermarks, ends of stream and batches crossing every edge.
const groupQuery = `
CREATE TABLE impulse WITH (connector = 'impulse', event_rate = '0', message_count = '5000');
CREATE TABLE out (k BIGINT, n BIGINT, s BIGINT, label TEXT) WITH (connector = 'collect');
INSERT INTO out
SELECT counter % 7 AS k, count(*) AS n, sum(counter) AS s, max(concat('c', CAST(counter AS TEXT))) AS label
FROM impulse
GROUP BY counter % 7`

// runGroupQuery runs groupQuery with r and returns the final row per key.
func runGroupQuery(t *testing.T, r *engine.Local) []string {
	t.Helper()
	c := collect.New()
	reg := connectors.Default().Clone()
	if err := reg.Register(c); err != nil {
		t.Fatal(err)
	}
	p, err := sql.Plan(groupQuery, sql.Options{Parallelism: 3, Connectors: reg})
	if err != nil {
		t.Fatal(err)
	}
	x, err := r.Start(context.Background(), p, engine.RunOptions{JobID: "job_test", RunID: 1, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-x.Done():
	case <-time.After(20 * time.Second):
		x.Stop(engine.StopImmediate)
		<-x.Done()
		t.Fatal("execution did not end")
	}
	if err := x.Err(); err != nil || !x.Finished() {
		t.Fatalf("Err = %v, Finished = %v", err, x.Finished())
	}
	final := map[string]string{}
	for _, ch := range c.Rows() {
		if before, ok := ch["before"].(map[string]any); ok {
			delete(final, fmt.Sprint(before["k"]))
		}
		if after, ok := ch["after"].(map[string]any); ok {
			final[fmt.Sprint(after["k"])] = fmt.Sprint(after)
		}
	}
	var rows []string
	for _, v := range final {
		rows = append(rows, v)
	}
	sort.Strings(rows)
	return rows
}

// Every subtask runs in this process, but the odd ones are reached
// through the gRPC service, as if they ran on another worker.
func TestEngineOverLoopback(t *testing.T) {
	want := runGroupQuery(t, &engine.Local{})
	t.Logf("in process: %v", want)
	if len(want) != 7 {
		t.Fatalf("in-process run gave %d keys: %v", len(want), want)
	}

	w := startWorker(t)
	var tr *Transport
	remote := 0
	r := &engine.Local{QueueSize: 4, NewTransport: func() engine.Transport {
		tr = NewTransport(w.reg, "job_test", 1, func(a engine.TaskAddr) (string, bool) {
			if a.Subtask%2 == 1 {
				remote++
				return w.addr, false
			}
			return "", true
		}, dial)
		return tr
	}}
	got := runGroupQuery(t, r)
	if err := tr.Close(); err != nil {
		t.Fatal(err)
	}
	if remote == 0 {
		t.Fatal("no outbox went through the network")
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("over the network:\n%v\nin process:\n%v", got, want)
	}
	if n := w.mem.CurrentAlloc(); n != 0 {
		t.Errorf("%d bytes of decoded batches not released", n)
	}
}

// An unbounded run over the network stops when asked, and its transport
// closes cleanly afterwards.
func TestEngineImmediateStopOverLoopback(t *testing.T) {
	const q = `
CREATE TABLE impulse WITH (connector = 'impulse', event_rate = '0');
CREATE TABLE out (k BIGINT, n BIGINT) WITH (connector = 'collect');
INSERT INTO out SELECT counter % 5 AS k, count(*) AS n FROM impulse GROUP BY counter % 5`
	c := collect.New()
	reg := connectors.Default().Clone()
	if err := reg.Register(c); err != nil {
		t.Fatal(err)
	}
	p, err := sql.Plan(q, sql.Options{Parallelism: 2, Connectors: reg})
	if err != nil {
		t.Fatal(err)
	}
	w := startWorker(t)
	tr := NewTransport(w.reg, "job_stop", 1, func(a engine.TaskAddr) (string, bool) { return w.addr, false }, dial)
	r := &engine.Local{QueueSize: 2, NewTransport: func() engine.Transport { return tr }}
	x, err := r.Start(context.Background(), p, engine.RunOptions{JobID: "job_stop", RunID: 1, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for c.Batches() < 10 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	x.Stop(engine.StopImmediate)
	select {
	case <-x.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("execution did not stop")
	}
	if err := tr.Close(); err != nil {
		t.Fatal(err)
	}
	deadline = time.Now().Add(5 * time.Second)
	for w.mem.CurrentAlloc() != 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if n := w.mem.CurrentAlloc(); n != 0 {
		t.Errorf("%d bytes of decoded batches not released", n)
	}
}
