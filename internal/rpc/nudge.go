package rpc

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// RemoteNudger is a client that can nudge a controller in another process,
// such as ControllerClient or LeaderClient.
type RemoteNudger interface {
	Nudge(ctx context.Context) error
}

// NudgeFunc adapts n to the func() an API server calls after every write
// (as the in-process controller's Nudge is called). Like that Nudge it
// never blocks the caller: one RPC is in flight at a time, and nudges that
// arrive meanwhile are folded into one more. Failures are only logged:
// the controller's poll picks the change up anyway, only later.
func NudgeFunc(n RemoteNudger, timeout time.Duration, logger *slog.Logger) func() {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	var (
		mu       sync.Mutex
		inFlight bool
		pending  bool
	)
	send := func() {
		for {
			ctx, cancel := context.WithTimeout(context.Background(), timeout)
			if err := n.Nudge(ctx); err != nil {
				logger.Warn("nudging the controller failed; it will notice at its next poll", "err", err)
			}
			cancel()
			mu.Lock()
			if !pending {
				inFlight = false
				mu.Unlock()
				return
			}
			pending = false
			mu.Unlock()
		}
	}
	return func() {
		mu.Lock()
		defer mu.Unlock()
		if inFlight {
			pending = true
			return
		}
		inFlight = true
		go send()
	}
}
