package rpc

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/runnel-dev/runnel/internal/output"
)

// nudgedController is a fakeController that counts nudges.
type nudgedController struct {
	fakeController
	nudges atomic.Int64
}

func (c *nudgedController) Nudge() { c.nudges.Add(1) }

func TestNudge(t *testing.T) {
	ctx := t.Context()
	c := &nudgedController{fakeController: fakeController{hub: output.NewHub(10)}}
	client := NewControllerClient(serve(t, c))
	for range 3 {
		if err := client.Nudge(ctx); err != nil {
			t.Fatalf("Nudge: %v", err)
		}
	}
	if n := c.nudges.Load(); n != 3 {
		t.Fatalf("controller saw %d nudges, want 3", n)
	}

	// A controller that takes no nudges says so.
	plain := NewControllerClient(serve(t, &fakeController{hub: output.NewHub(10)}))
	if err := plain.Nudge(ctx); status.Code(err) != codes.Unimplemented {
		t.Fatalf("Nudge of a controller without Nudge: %v, want Unimplemented", err)
	}
}

// blockingNudger holds every nudge until release is closed.
type blockingNudger struct {
	calls   atomic.Int64
	release chan struct{}
}

func (b *blockingNudger) Nudge(ctx context.Context) error {
	b.calls.Add(1)
	select {
	case <-b.release:
	case <-ctx.Done():
	}
	return nil
}

// NudgeFunc never blocks its caller and folds nudges made during an RPC
// into one more.
func TestNudgeFuncCoalesces(t *testing.T) {
	b := &blockingNudger{release: make(chan struct{})}
	nudge := NudgeFunc(b, 5*time.Second, nil)
	start := time.Now()
	for range 100 {
		nudge()
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("nudge blocked for %v", d)
	}
	waitFor(t, "the first nudge", func() bool { return b.calls.Load() == 1 })
	close(b.release)
	waitFor(t, "the folded nudge", func() bool { return b.calls.Load() == 2 })
	time.Sleep(50 * time.Millisecond)
	if n := b.calls.Load(); n != 2 {
		t.Fatalf("%d nudges sent, want 2", n)
	}

	// The real client over loopback.
	c := &nudgedController{fakeController: fakeController{hub: output.NewHub(10)}}
	nudge = NudgeFunc(NewControllerClient(serve(t, c)), time.Second, nil)
	nudge()
	waitFor(t, "the remote nudge", func() bool { return c.nudges.Load() >= 1 })
}
