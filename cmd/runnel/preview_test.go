package main

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/runnel-dev/runnel/pkg/client"
)

// TestPreviewThroughWorkers creates a preview pipeline on a controller
// with the process scheduler: its preview sink runs in a worker process,
// which relays rows to the controller (WorkerControlService.SendOutput),
// whose output hub serves them to the API's server-sent events.
func TestPreviewThroughWorkers(t *testing.T) {
	d := newDistributed(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	ctrl, grpcAddr := d.controller(true)
	c := d.api("--controller-addr", grpcAddr)

	const total = 400
	p, err := c.CreatePreview(ctx, client.PreviewPost{Query: `
CREATE TABLE impulse WITH (connector = 'impulse', event_rate = '200', message_count = '400');
SELECT counter, counter * 2 AS twice FROM impulse`})
	if err != nil {
		t.Fatal(err)
	}
	j, err := c.WaitForState(ctx, p.ID, client.StateRunning)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(workerPIDs(t, ctrl.cmd.Process.Pid)); n != 1 {
		t.Errorf("%d worker processes run the preview, want 1", n)
	}
	s, err := c.OpenOutput(ctx, p.ID, j.ID, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	seen := map[int64]bool{}
	for {
		b, err := s.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("after %d rows: %v", len(seen), err)
		}
		var rows []struct{ Counter, Twice int64 }
		if err := json.Unmarshal([]byte(b.Batch), &rows); err != nil {
			t.Fatalf("batch %q: %v", b.Batch, err)
		}
		if len(b.Timestamps) != len(rows) {
			t.Errorf("batch of %d rows with %d timestamps", len(rows), len(b.Timestamps))
		}
		for _, r := range rows {
			if r.Twice != 2*r.Counter || r.Counter < 0 || r.Counter >= total || seen[r.Counter] {
				t.Fatalf("row %+v: a counter below %d seen once, and twice it", r, total)
			}
			seen[r.Counter] = true
		}
	}
	if !s.Done() {
		t.Error("the stream ended without the done event")
	}
	// The stream opened after the job started, so it may miss the first
	// rows (the hub replays only a few batches); the rest must arrive.
	if len(seen) < total/2 {
		t.Fatalf("%d of %d rows arrived over SSE", len(seen), total)
	}
	t.Logf("%d of %d rows arrived over SSE from the worker (dropped %d)", len(seen), total, s.Dropped())
	if _, err := c.WaitForState(ctx, p.ID, client.StateFinished); err != nil {
		t.Fatal(err)
	}
}
