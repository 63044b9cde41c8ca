package rpc

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/runnel-dev/runnel/internal/metrics"
	"github.com/runnel-dev/runnel/internal/output"
)

// defaultRecheck is how often LeaderDialer asks where the leader is while
// calls succeed. A failover also shows as Unavailable, which re-resolves
// at once; the recheck catches a leader change whose old leader still
// answers.
const defaultRecheck = 500 * time.Millisecond

// LeaderDialer keeps a connection to whichever controller currently leads,
// as told by resolve (in production leader.CurrentLeader on the metadata
// store). It resolves again at most every 500ms, and at once after a call
// through it failed with codes.Unavailable.
type LeaderDialer struct {
	resolve func(ctx context.Context) (string, error)
	opts    []grpc.DialOption
	recheck time.Duration
	logger  *slog.Logger

	mu      sync.Mutex
	addr    string
	conn    *grpc.ClientConn // nil until the first resolve, and after Close
	client  *ControllerClient
	checked time.Time // when resolve last ran; zero forces the next
	closed  bool
}

// NewLeaderDialer returns a dialer that connects to the address resolve
// returns, with opts (transport credentials among them). It connects
// lazily, on the first call.
func NewLeaderDialer(resolve func(ctx context.Context) (string, error), logger *slog.Logger, opts ...grpc.DialOption) *LeaderDialer {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &LeaderDialer{resolve: resolve, opts: opts, recheck: defaultRecheck, logger: logger}
}

// Conn returns a connection to the current leader.
func (d *LeaderDialer) Conn(ctx context.Context) (*grpc.ClientConn, error) {
	c, err := d.current(ctx)
	if err != nil {
		return nil, err
	}
	return c.conn, nil
}

// leaderConn is a connection with the client built on it.
type leaderConn struct {
	conn   *grpc.ClientConn
	client *ControllerClient
}

func (d *LeaderDialer) current(ctx context.Context) (leaderConn, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return leaderConn{}, errors.New("rpc: leader dialer is closed")
	}
	if d.conn != nil && time.Since(d.checked) < d.recheck {
		return leaderConn{d.conn, d.client}, nil
	}
	// Resolving under the lock makes concurrent callers share one lookup.
	addr, err := d.resolve(ctx)
	d.checked = time.Now()
	switch {
	case err != nil && d.conn != nil:
		// Keep calling the last known leader; if it is gone its calls
		// fail with Unavailable and we resolve again.
		d.logger.Warn("finding the controller leader failed; keeping the last one", "address", d.addr, "err", err)
		return leaderConn{d.conn, d.client}, nil
	case err != nil:
		return leaderConn{}, fmt.Errorf("rpc: finding the controller leader: %w", err)
	case addr == d.addr && d.conn != nil:
		return leaderConn{d.conn, d.client}, nil
	}
	conn, err := grpc.NewClient(addr, d.opts...)
	if err != nil {
		return leaderConn{}, fmt.Errorf("rpc: connecting to controller leader %s: %w", addr, err)
	}
	if d.conn != nil {
		// Calls still running on the old leader end here; it no longer
		// leads, so what they would return is stale anyway.
		_ = d.conn.Close()
	}
	d.logger.Info("controller leader changed", "from", d.addr, "to", addr)
	d.addr, d.conn, d.client = addr, conn, NewControllerClient(conn)
	return leaderConn{d.conn, d.client}, nil
}

// invalidate makes the next call resolve again, unless conn has already
// been replaced.
func (d *LeaderDialer) invalidate(conn *grpc.ClientConn) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.conn == conn {
		d.checked = time.Time{}
	}
}

// Close closes the connection; later calls fail.
func (d *LeaderDialer) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.closed = true
	if d.conn == nil {
		return nil
	}
	err := d.conn.Close()
	d.conn, d.client = nil, nil
	return err
}

// LeaderClient is a Controller (and an api.Controller) that reaches the
// leading controller through a LeaderDialer. A call that finds the leader
// Unavailable resolves the leader again and is tried once more: none of
// its calls changes anything on a controller that did not answer.
type LeaderClient struct {
	d *LeaderDialer
}

// NewLeaderClient calls the controller d leads to.
func NewLeaderClient(d *LeaderDialer) *LeaderClient { return &LeaderClient{d: d} }

// SubscribeOutput is ControllerClient.SubscribeOutput on the leader. The
// stream ends with an error if leadership moves while it is open.
func (c *LeaderClient) SubscribeOutput(ctx context.Context, jobID string) (output.Stream, error) {
	return onLeader(ctx, c.d, func(cc *ControllerClient) (output.Stream, error) {
		return cc.SubscribeOutput(ctx, jobID)
	})
}

// JobMetrics is ControllerClient.JobMetrics on the leader.
func (c *LeaderClient) JobMetrics(ctx context.Context, jobID string) ([]metrics.OperatorGroup, error) {
	return onLeader(ctx, c.d, func(cc *ControllerClient) ([]metrics.OperatorGroup, error) {
		return cc.JobMetrics(ctx, jobID)
	})
}

// Nudge is ControllerClient.Nudge on the leader.
func (c *LeaderClient) Nudge(ctx context.Context) error {
	_, err := onLeader(ctx, c.d, func(cc *ControllerClient) (struct{}, error) {
		return struct{}{}, cc.Nudge(ctx)
	})
	return err
}

func onLeader[T any](ctx context.Context, d *LeaderDialer, call func(*ControllerClient) (T, error)) (T, error) {
	for attempt := 0; ; attempt++ {
		lc, err := d.current(ctx)
		if err != nil {
			var zero T
			return zero, err
		}
		v, err := call(lc.client)
		if status.Code(err) != codes.Unavailable {
			return v, err
		}
		d.invalidate(lc.conn)
		if attempt > 0 || ctx.Err() != nil {
			return v, err
		}
	}
}
