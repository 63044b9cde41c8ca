package exchange

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"google.golang.org/grpc"

	"github.com/runnel-dev/runnel/internal/engine"
	"github.com/runnel-dev/runnel/internal/rpc/runnelpb"
)

// Transport is the engine.Transport of one execution on one worker. Its
// inboxes are local and registered in a Registry; its outboxes reach local
// inboxes directly and remote ones over Exchange streams.
type Transport struct {
	reg   *Registry
	job   string
	run   int64
	route func(engine.TaskAddr) (peer string, local bool)
	dial  func(addr string) (*grpc.ClientConn, error)

	// ctx bounds every stream of the transport; Close cancels it.
	ctx    context.Context
	cancel context.CancelFunc

	// perBatchIPC makes every batch frame a self-contained IPC stream
	// (for comparison in benchmarks).
	perBatchIPC bool

	mu      sync.Mutex
	closed  bool
	inboxes map[engine.TaskAddr]*inbox
	conns   map[string]*grpc.ClientConn
	outs    []*outbox
}

var _ engine.Transport = (*Transport)(nil)

// NewTransport returns the transport of run runID of job jobID. route
// tells where the subtask at an address runs: here (local) or on the
// worker serving DataService at peer. dial connects to a peer; it is
// called once per peer, on the first message sent there.
func NewTransport(reg *Registry, jobID string, runID int64, route func(engine.TaskAddr) (peer string, local bool), dial func(addr string) (*grpc.ClientConn, error)) *Transport {
	ctx, cancel := context.WithCancel(context.Background())
	return &Transport{
		reg:     reg,
		job:     jobID,
		run:     runID,
		route:   route,
		dial:    dial,
		ctx:     ctx,
		cancel:  cancel,
		inboxes: map[engine.TaskAddr]*inbox{},
		conns:   map[string]*grpc.ClientConn{},
	}
}

// Inbox creates the input queue of a subtask running here and registers
// it so that remote senders find it.
func (t *Transport) Inbox(addr engine.TaskAddr, capacity int) (engine.Inbox, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return nil, errors.New("transport closed")
	}
	if _, ok := t.inboxes[addr]; ok {
		return nil, fmt.Errorf("inbox %s exists", addr)
	}
	b := newInbox(capacity)
	if err := t.reg.register(t.key(addr), b); err != nil {
		return nil, err
	}
	t.inboxes[addr] = b
	return b, nil
}

// Outbox returns a sender to the subtask at addr: its inbox if it runs
// here, else a network outbox that connects on its first Send.
func (t *Transport) Outbox(addr engine.TaskAddr) (engine.Outbox, error) {
	peer, local := t.route(addr)
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return nil, errors.New("transport closed")
	}
	if local {
		b, ok := t.inboxes[addr]
		if !ok {
			return nil, fmt.Errorf("no inbox %s", addr)
		}
		return b, nil
	}
	o := &outbox{t: t, peer: peer, addr: addr, enc: encoder{perBatch: t.perBatchIPC}}
	t.outs = append(t.outs, o)
	return o, nil
}

// closeTimeout bounds how long Close waits for receivers to take what was
// sent before an end of stream.
const closeTimeout = 30 * time.Second

// Close unregisters the inboxes and releases what they hold, ends the
// streams that are still open and closes the connections. Call it once the
// execution has ended; sends still in progress fail.
func (t *Transport) Close() error {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return nil
	}
	t.closed = true
	t.mu.Unlock()

	// A stream that sent its end of stream is complete only once the
	// receiver has queued everything up to it (the receiver then ends the
	// stream): cancelling it earlier would drop the messages still in
	// flight, up to a window of credits, and fail the receiver. So those
	// are waited for, within a bound; the others have not sent their end
	// of stream, and cancelling them tells their receivers the run ended
	// here.
	for _, o := range t.outs {
		if !o.ended && o.cancel != nil {
			o.cancel()
		}
	}
	bound := time.NewTimer(closeTimeout)
	defer bound.Stop()
	for _, o := range t.outs {
		if !o.ended {
			continue
		}
		select {
		case <-o.done:
		case <-bound.C:
			t.cancel()
		}
	}
	t.cancel()
	for _, o := range t.outs {
		o.wait()
	}
	var errs []error
	for peer, cc := range t.conns {
		if err := cc.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close connection to %s: %w", peer, err))
		}
	}
	for addr, b := range t.inboxes {
		t.reg.unregister(t.key(addr), b)
		b.close()
	}
	return errors.Join(errs...)
}

func (t *Transport) key(addr engine.TaskAddr) key { return key{job: t.job, run: t.run, addr: addr} }

// conn returns the connection to peer, dialling it the first time.
func (t *Transport) conn(peer string) (*grpc.ClientConn, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return nil, errors.New("transport closed")
	}
	if cc, ok := t.conns[peer]; ok {
		return cc, nil
	}
	cc, err := t.dial(peer)
	if err != nil {
		return nil, err
	}
	t.conns[peer] = cc
	return cc, nil
}

// outbox is the sending end of one Exchange stream. Send is called by one
// goroutine (the sending task); the credit reader runs beside it.
type outbox struct {
	t    *Transport
	peer string
	addr engine.TaskAddr

	stream runnelpb.DataService_ExchangeClient // nil until the first Send
	// sctx is the stream's context and cancel ends it: gRPC's blocking
	// calls watch only sctx, not the context of the Send in progress.
	sctx   context.Context
	cancel context.CancelFunc
	ended  bool // end of stream sent
	enc    encoder

	mu      sync.Mutex
	credits int64
	wake    chan struct{} // signalled when credits arrive
	done    chan struct{} // closed when the credit reader stops
	err     error         // why it stopped, set before done is closed
}

// Send sends m to the remote inbox, waiting for credit first. On success
// the outbox has released m.Batch (it was encoded and is no longer
// needed), which is the ownership transfer the in-process Send makes; on
// error the caller still owns it.
func (o *outbox) Send(ctx context.Context, m engine.Message) error {
	if o.ended {
		return fmt.Errorf("exchange to %s (%s): send after end of stream", o.peer, o.addr)
	}
	if o.stream == nil {
		if err := o.guard(ctx, o.open); err != nil {
			o.cancel() // a later Send starts afresh
			o.cancel = nil
			return o.linkErr(err)
		}
	}
	if err := o.acquire(ctx); err != nil {
		return err
	}
	f, err := o.enc.encode(m)
	if err != nil {
		return err
	}
	if err := o.guard(ctx, func() error { return o.stream.Send(f) }); err != nil {
		if errors.Is(err, io.EOF) {
			// The stream broke; its status comes from the receive side.
			<-o.done
			err = o.err
		}
		return o.linkErr(err)
	}
	if m.Batch != nil {
		m.Batch.Release()
	}
	if m.Signal == engine.SignalEndOfStream {
		// Nothing follows; a clean close lets the receiver finish the
		// stream without waiting for ours to be torn down.
		o.ended = true
		o.enc.close()
		if err := o.stream.CloseSend(); err != nil {
			return o.linkErr(err)
		}
	}
	return nil
}

// linkErr says that the link to the peer failed. Such failures are the
// network's or the peer machine's, not the query's nor Runnel's: external.
func (o *outbox) linkErr(err error) error {
	return engine.WithDomain(engine.DomainExternal, fmt.Errorf("exchange to %s (%s): %w", o.peer, o.addr, err))
}

// guard runs call, cancelling the stream if ctx ends first. Then the
// stream is lost (the receiver sees it fail) and guard returns ctx's error.
func (o *outbox) guard(ctx context.Context, call func() error) error {
	if o.cancel == nil {
		o.sctx, o.cancel = context.WithCancel(o.t.ctx)
	}
	stop := context.AfterFunc(ctx, o.cancel)
	err := call()
	if !stop() {
		return ctx.Err()
	}
	return err
}

// open starts the stream and sends its header.
func (o *outbox) open() error {
	cc, err := o.t.conn(o.peer)
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	s, err := runnelpb.NewDataServiceClient(cc).Exchange(o.sctx)
	if err != nil {
		return fmt.Errorf("open stream: %w", err)
	}
	h := &runnelpb.ExchangeHeader{JobId: o.t.job, RunId: o.t.run, NodeId: int64(o.addr.NodeID), Subtask: int64(o.addr.Subtask)}
	if err := s.Send(&runnelpb.DataFrame{Header: h}); err != nil {
		if errors.Is(err, io.EOF) {
			_, err = s.Recv()
		}
		return fmt.Errorf("send header: %w", err)
	}
	o.wake = make(chan struct{}, 1)
	o.done = make(chan struct{})
	o.mu.Lock()
	o.stream = s
	o.mu.Unlock()
	go o.readCredits()
	return nil
}

// readCredits adds the receiver's grants until the stream ends.
func (o *outbox) readCredits() {
	defer close(o.done)
	for {
		c, err := o.stream.Recv()
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = errors.New("receiver ended the stream")
			}
			o.err = err
			return
		}
		o.mu.Lock()
		o.credits += c.Credits
		o.mu.Unlock()
		select {
		case o.wake <- struct{}{}:
		default:
		}
	}
}

// acquire takes one credit, waiting for it.
func (o *outbox) acquire(ctx context.Context) error {
	for {
		o.mu.Lock()
		if o.credits > 0 {
			o.credits--
			o.mu.Unlock()
			return nil
		}
		o.mu.Unlock()
		select {
		case <-o.wake:
		case <-o.done:
			return o.linkErr(o.err)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// wait blocks until the stream, if it was opened, has ended.
func (o *outbox) wait() {
	o.mu.Lock()
	opened := o.stream != nil
	o.mu.Unlock()
	if opened {
		<-o.done
	}
}
