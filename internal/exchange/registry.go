// Package exchange is the worker-to-worker network transport: an
// engine.Transport whose outboxes reach subtasks on other workers over the
// DataService.Exchange gRPC stream, and the service that feeds those
// streams into the local inboxes of running executions.
//
// Contract, the same as in process:
//   - Outbox.Send takes the message's batch reference when it returns nil
//     (a network outbox encodes the batch and releases it); on an error the
//     caller still owns it. Send is called from one goroutine per outbox.
//   - Recv hands out batches the receiving task owns and releases; decoded
//     batches own their memory.
//   - Each sender ends its stream with SignalEndOfStream; a remote stream
//     that ends any other way (peer died, connection lost, closed early)
//     makes the inbox's Recv fail, so the run fails instead of hanging or
//     silently losing data.
//   - Backpressure: the receiver grants the inbox capacity in credits when
//     a stream opens and one more per message it has put into the inbox;
//     Send blocks without credit, so at most capacity messages are in
//     flight per stream (a sender whose receiver stops reading gets
//     capacity queued plus capacity in flight ahead).
//   - engine.Local neither closes a transport nor drains inboxes it did
//     not make: whoever makes the Transport calls Close once the execution
//     is done, which releases what is still queued.
//
// Each Exchange stream opens with a header-only frame (job, run, receiving
// subtask); the receiver waits for that inbox to be created (up to
// Service.WaitTimeout), grants credit, then every frame is one message.
// Batches travel as Arrow IPC, the schema once per stream (see codec.go).
//
// BenchmarkExchange (4096-row int64+string batches, one stream over
// loopback, 2 loaded cores) moves about 17-30 million rows/s, roughly
// 450-800 MB/s; a self-contained IPC stream per batch is 10-30% slower.
//
// Failing promptly when a peer machine vanishes without closing its
// connections needs gRPC keepalives on the server and the client
// connections; configure them where they are created.
package exchange

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/runnel-dev/runnel/internal/engine"
)

// key names one inbox of one run on this worker.
type key struct {
	job  string
	run  int64
	addr engine.TaskAddr
}

func (k key) String() string { return fmt.Sprintf("%s/%d/%s", k.job, k.run, k.addr) }

// Registry holds the inboxes of the executions running on one worker, so
// that remote senders can find them. It is safe for concurrent use.
type Registry struct {
	mu    sync.Mutex
	boxes map[key]*inbox
	// changed is closed and replaced whenever an inbox is registered, to
	// wake streams that arrived before their inbox.
	changed chan struct{}
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry {
	return &Registry{boxes: map[key]*inbox{}, changed: make(chan struct{})}
}

func (r *Registry) register(k key, b *inbox) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.boxes[k]; ok {
		return fmt.Errorf("inbox %s exists", k)
	}
	r.boxes[k] = b
	close(r.changed)
	r.changed = make(chan struct{})
	return nil
}

func (r *Registry) unregister(k key, b *inbox) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.boxes[k] == b {
		delete(r.boxes, k)
	}
}

// wait returns the inbox k once it is registered, or an error when ctx is
// done first.
func (r *Registry) wait(ctx context.Context, k key) (*inbox, error) {
	for {
		r.mu.Lock()
		b, ok := r.boxes[k]
		changed := r.changed
		r.mu.Unlock()
		if ok {
			return b, nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

var errInboxClosed = errors.New("inbox closed")

// inbox is a bounded queue like the in-process one, plus a failure that
// remote streams report into it.
type inbox struct {
	ch     chan engine.Message
	closed chan struct{}

	failOnce sync.Once
	failed   chan struct{}
	err      error // set before failed is closed
}

func newInbox(capacity int) *inbox {
	return &inbox{
		ch:     make(chan engine.Message, capacity),
		closed: make(chan struct{}),
		failed: make(chan struct{}),
	}
}

// Recv returns the next message. Once a remote stream into the inbox has
// failed it returns that error, even if messages are still queued: the run
// is lost anyway and will be recovered from a checkpoint.
func (b *inbox) Recv(ctx context.Context) (engine.Message, error) {
	select {
	case <-b.failed:
		return engine.Message{}, b.err
	default:
	}
	select {
	case m := <-b.ch:
		return m, nil
	case <-b.failed:
		return engine.Message{}, b.err
	case <-ctx.Done():
		return engine.Message{}, ctx.Err()
	}
}

func (b *inbox) Cap() int { return cap(b.ch) }
func (b *inbox) Len() int { return len(b.ch) }

// Send makes the inbox the outbox of local senders.
func (b *inbox) Send(ctx context.Context, m engine.Message) error { return b.put(ctx, m) }

// put queues m, blocking while the queue is full.
func (b *inbox) put(ctx context.Context, m engine.Message) error {
	select {
	case b.ch <- m:
	case <-ctx.Done():
		return ctx.Err()
	case <-b.closed:
		return errInboxClosed
	}
	// A put that raced with close may have landed after close drained
	// the queue; drain again so that nothing is left unreleased.
	select {
	case <-b.closed:
		b.drain()
	default:
	}
	return nil
}

// fail makes Recv return err; the first failure wins.
func (b *inbox) fail(err error) {
	b.failOnce.Do(func() {
		// A stream from another worker broke: the network's or the peer's
		// doing, unless it was already attributed.
		b.err = engine.WithDomain(engine.DomainExternal, err)
		close(b.failed)
	})
}

// close stops puts and releases what is queued.
func (b *inbox) close() {
	close(b.closed)
	b.drain()
}

func (b *inbox) drain() {
	for {
		select {
		case m := <-b.ch:
			if m.Batch != nil {
				m.Batch.Release()
			}
		default:
			return
		}
	}
}
