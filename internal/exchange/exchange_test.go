package exchange

import (
	"context"
	"errors"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/runnel-dev/runnel/internal/engine"
	"github.com/runnel-dev/runnel/internal/rpc/runnelpb"
)

// worker is one simulated worker process: a registry served over gRPC.
type worker struct {
	reg  *Registry
	svc  *Service
	srv  *grpc.Server
	addr string
	mem  *memory.CheckedAllocator
}

func startWorker(t testing.TB) *worker {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	w := &worker{reg: NewRegistry(), srv: grpc.NewServer(), addr: lis.Addr().String(),
		mem: memory.NewCheckedAllocator(memory.NewGoAllocator())}
	w.svc = NewService(w.reg)
	w.svc.Allocator = w.mem
	runnelpb.RegisterDataServiceServer(w.srv, w.svc)
	go func() { _ = w.srv.Serve(lis) }()
	t.Cleanup(w.srv.Stop)
	return w
}

func dial(addr string) (*grpc.ClientConn, error) {
	return grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
}

// transport is w's transport for run 1 of "job", sending everything not
// in local to peer.
func (w *worker) transport(t testing.TB, peer string, local ...engine.TaskAddr) *Transport {
	t.Helper()
	tr := NewTransport(w.reg, "job", 1, func(a engine.TaskAddr) (string, bool) {
		for _, l := range local {
			if l == a {
				return "", true
			}
		}
		return peer, false
	}, dial)
	t.Cleanup(func() { _ = tr.Close() })
	return tr
}

// pair is a sender worker a with an outbox to inbox dst on worker b.
func pair(t testing.TB, capacity int) (a, b *worker, out engine.Outbox, in engine.Inbox, ta, tb *Transport) {
	t.Helper()
	a, b = startWorker(t), startWorker(t)
	dst := engine.TaskAddr{NodeID: 2, Subtask: 1}
	tb = b.transport(t, "", dst)
	in, err := tb.Inbox(dst, capacity)
	if err != nil {
		t.Fatal(err)
	}
	ta = a.transport(t, b.addr)
	out, err = ta.Outbox(dst)
	if err != nil {
		t.Fatal(err)
	}
	return a, b, out, in, ta, tb
}

var richSchema = arrow.NewSchema([]arrow.Field{
	{Name: "i", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
	{Name: "s", Type: arrow.BinaryTypes.String, Nullable: true},
	{Name: "ts", Type: &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}, Nullable: true},
	{Name: "st", Type: arrow.StructOf(
		arrow.Field{Name: "a", Type: arrow.PrimitiveTypes.Int32, Nullable: true},
		arrow.Field{Name: "b", Type: arrow.BinaryTypes.String, Nullable: true},
	), Nullable: true},
}, nil)

// richBatch has every column type of richSchema, with nulls.
func richBatch(mem memory.Allocator, rows, seed int) arrow.RecordBatch {
	b := array.NewRecordBuilder(mem, richSchema)
	defer b.Release()
	ib := b.Field(0).(*array.Int64Builder)
	sb := b.Field(1).(*array.StringBuilder)
	tb := b.Field(2).(*array.TimestampBuilder)
	stb := b.Field(3).(*array.StructBuilder)
	ab := stb.FieldBuilder(0).(*array.Int32Builder)
	bb := stb.FieldBuilder(1).(*array.StringBuilder)
	for r := range rows {
		v := seed*1000 + r
		if r%5 == 3 {
			ib.AppendNull()
			sb.AppendNull()
			tb.AppendNull()
			stb.AppendNull()
			continue
		}
		ib.Append(int64(v))
		sb.Append("row-" + string(rune('a'+v%26)))
		tb.Append(arrow.Timestamp(1_700_000_000_000_000 + int64(v)))
		stb.Append(true)
		if r%4 == 1 {
			ab.AppendNull()
		} else {
			ab.Append(int32(v))
		}
		bb.Append("x")
	}
	return b.NewRecordBatch()
}

func recvTimeout(t *testing.T, in engine.Inbox) (engine.Message, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return in.Recv(ctx)
}

func TestRoundTrip(t *testing.T) {
	a, b, out, in, ta, tb := pair(t, 16)
	ctx := context.Background()
	want := []engine.Message{
		{Batch: richBatch(a.mem, 10, 1), From: 3, Input: 1},
		{Signal: engine.SignalWatermark, From: 3, Input: 1, Watermark: -42},
		{Signal: engine.SignalBarrier, From: 3, Input: 1, Epoch: 7},
		{Batch: richBatch(a.mem, 1, 2), From: 3, Input: 1},
		{Batch: richBatch(a.mem, 0, 3), From: 3, Input: 1},
		{Signal: engine.SignalEndOfStream, From: 3, Input: 1},
	}
	for _, m := range want {
		if m.Batch != nil {
			m.Batch.Retain() // Send takes one reference, we keep one to compare
		}
		if err := out.Send(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	for i, w := range want {
		got, err := recvTimeout(t, in)
		if err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		if got.Signal != w.Signal || got.From != w.From || got.Input != w.Input || got.Watermark != w.Watermark || got.Epoch != w.Epoch {
			t.Errorf("message %d = %+v, want %+v", i, got, w)
		}
		if (got.Batch == nil) != (w.Batch == nil) {
			t.Fatalf("message %d: batch %v, want %v", i, got.Batch, w.Batch)
		}
		if w.Batch != nil {
			if !array.RecordEqual(got.Batch, w.Batch) {
				t.Errorf("message %d: batch\n%v\nwant\n%v", i, got.Batch, w.Batch)
			}
			got.Batch.Release()
			w.Batch.Release()
		}
	}
	// The stream ended cleanly after the end of stream: no error.
	time.Sleep(50 * time.Millisecond)
	if in.Len() != 0 {
		t.Errorf("Len = %d after draining", in.Len())
	}
	if err := ta.Close(); err != nil {
		t.Fatal(err)
	}
	if err := tb.Close(); err != nil {
		t.Fatal(err)
	}
	a.mem.AssertSize(t, 0)
	b.mem.AssertSize(t, 0)
}

// A clean end after the end of stream must not fail the inbox.
func TestCleanEndIsNotAnError(t *testing.T) {
	_, _, out, in, ta, _ := pair(t, 4)
	ctx := context.Background()
	if err := out.Send(ctx, engine.Message{Signal: engine.SignalEndOfStream}); err != nil {
		t.Fatal(err)
	}
	if m, err := recvTimeout(t, in); err != nil || m.Signal != engine.SignalEndOfStream {
		t.Fatalf("Recv = %+v, %v", m, err)
	}
	if err := ta.Close(); err != nil {
		t.Fatal(err)
	}
	rctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	if _, err := in.Recv(rctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Recv after a clean end = %v, want to wait", err)
	}
}

// A sender whose share ended closes its transport at once, while the
// receiver may not have taken everything it sent yet (a window of credits
// in flight). Close must let those messages arrive, not cancel them.
func TestCloseAfterEndOfStreamDeliversInFlight(t *testing.T) {
	const capacity = 2
	a, _, out, in, ta, _ := pair(t, capacity)
	ctx := context.Background()
	sent := make(chan error, 1)
	go func() {
		for i := range 2 * capacity {
			if err := out.Send(ctx, engine.Message{Batch: richBatch(a.mem, 1, i)}); err != nil {
				sent <- err
				return
			}
		}
		sent <- out.Send(ctx, engine.Message{Signal: engine.SignalEndOfStream})
	}()
	// The inbox is full and more is in flight when the sender closes.
	deadline := time.Now().Add(5 * time.Second)
	for in.Len() < capacity {
		if time.Now().After(deadline) {
			t.Fatal("the inbox never filled")
		}
		time.Sleep(time.Millisecond)
	}
	// Taking one message frees the credit the end of stream needs; the
	// rest stays queued or in flight while the sender closes.
	m, err := recvTimeout(t, in)
	if err != nil {
		t.Fatal(err)
	}
	m.Batch.Release()
	closing := make(chan struct{})
	closed := make(chan error, 1)
	go func() {
		if err := <-sent; err != nil {
			closed <- err
			return
		}
		close(closing)
		closed <- ta.Close()
	}()
	<-closing
	time.Sleep(100 * time.Millisecond) // time for a cancellation to land
	for i := 1; i < 2*capacity; i++ {
		m, err := recvTimeout(t, in)
		if err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		m.Batch.Release()
	}
	if m, err := recvTimeout(t, in); err != nil || m.Signal != engine.SignalEndOfStream {
		t.Fatalf("Recv = %+v, %v; want the end of stream", m, err)
	}
	if err := <-closed; err != nil {
		t.Fatal(err)
	}
}

func TestBackpressure(t *testing.T) {
	const capacity, total = 2, 10
	a, _, out, in, _, _ := pair(t, capacity)
	ob := out.(*outbox)
	var sent atomic.Int64
	done := make(chan error, 1)
	go func() {
		for i := range total {
			if err := out.Send(context.Background(), engine.Message{Batch: richBatch(a.mem, 1, i)}); err != nil {
				done <- err
				return
			}
			sent.Add(1)
		}
		done <- nil
	}()
	// The inbox fills up (capacity), and the sender gets capacity more
	// messages in flight (granted when the first ones were queued), then
	// it runs out of credit.
	deadline := time.Now().Add(5 * time.Second)
	for !(in.Len() == capacity && sent.Load() == 2*capacity) {
		if time.Now().After(deadline) {
			t.Fatalf("Len = %d, sent = %d", in.Len(), sent.Load())
		}
		time.Sleep(time.Millisecond)
	}
	time.Sleep(100 * time.Millisecond)
	ob.mu.Lock()
	credits := ob.credits
	ob.mu.Unlock()
	if n, l := sent.Load(), in.Len(); n-int64(l) != capacity || credits != 0 {
		t.Fatalf("sent %d, queued %d, credits %d: want %d in flight and no credit", n, l, credits, capacity)
	}
	for i := range total {
		m, err := recvTimeout(t, in)
		if err != nil {
			t.Fatal(err)
		}
		if got := m.Batch.Column(0).(*array.Int64).Value(0); got != int64(i*1000) {
			t.Errorf("batch %d has %d, out of order", i, got)
		}
		m.Batch.Release()
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestSendCancelledWhileBlocked(t *testing.T) {
	a, _, out, _, _, _ := pair(t, 1)
	// One queued, one in flight: the third send has no credit.
	for range 2 {
		if err := out.Send(context.Background(), engine.Message{Signal: engine.SignalWatermark}); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	b := richBatch(a.mem, 3, 0)
	err := out.Send(ctx, engine.Message{Batch: b})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Send = %v, want context.Canceled", err)
	}
	b.Release() // still ours after a failed Send
	a.mem.AssertSize(t, 0)
}

func TestInboxRegisteredLate(t *testing.T) {
	a, b := startWorker(t), startWorker(t)
	dst := engine.TaskAddr{NodeID: 4, Subtask: 0}
	out, err := a.transport(t, b.addr).Outbox(dst)
	if err != nil {
		t.Fatal(err)
	}
	sent := make(chan error, 1)
	go func() { sent <- out.Send(context.Background(), engine.Message{Signal: engine.SignalBarrier, Epoch: 3}) }()
	time.Sleep(200 * time.Millisecond)
	in, err := b.transport(t, "", dst).Inbox(dst, 4)
	if err != nil {
		t.Fatal(err)
	}
	if m, err := recvTimeout(t, in); err != nil || m.Epoch != 3 {
		t.Fatalf("Recv = %+v, %v", m, err)
	}
	if err := <-sent; err != nil {
		t.Fatal(err)
	}
}

func TestInboxNeverRegistered(t *testing.T) {
	a, b := startWorker(t), startWorker(t)
	b.svc.WaitTimeout = 100 * time.Millisecond
	out, err := a.transport(t, b.addr).Outbox(engine.TaskAddr{NodeID: 9, Subtask: 9})
	if err != nil {
		t.Fatal(err)
	}
	err = out.Send(context.Background(), engine.Message{Signal: engine.SignalWatermark})
	if status.Code(err) != codes.NotFound {
		t.Fatalf("Send = %v, want NotFound", err)
	}
}

func TestUnreachablePeer(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := lis.Addr().String()
	lis.Close()
	a := startWorker(t)
	out, err := a.transport(t, addr).Outbox(engine.TaskAddr{NodeID: 1, Subtask: 0})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err = out.Send(ctx, engine.Message{Signal: engine.SignalWatermark})
	if err == nil || ctx.Err() != nil {
		t.Fatalf("Send = %v, want a prompt error", err)
	}
	if !strings.Contains(err.Error(), addr) {
		t.Errorf("error %q does not name the peer", err)
	}
}

// The receiving worker dies mid-stream: its inbox fails, and so does the
// sender.
func TestReceiverKilled(t *testing.T) {
	a, b, out, in, _, _ := pair(t, 2)
	if err := out.Send(context.Background(), engine.Message{Batch: richBatch(a.mem, 5, 0)}); err != nil {
		t.Fatal(err)
	}
	m, err := recvTimeout(t, in)
	if err != nil {
		t.Fatal(err)
	}
	m.Batch.Release()
	b.srv.Stop()
	start := time.Now()
	if _, err := recvTimeout(t, in); err == nil || errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Recv = %v, want the stream's failure", err)
	} else if d := engine.DomainOf(err); d != engine.DomainExternal {
		t.Errorf("Recv error %q is in domain %s, want external", err, d)
	}
	var sendErr error
	for i := 0; sendErr == nil && time.Since(start) < 5*time.Second; i++ {
		sendErr = out.Send(context.Background(), engine.Message{Signal: engine.SignalWatermark, Watermark: int64(i)})
	}
	if sendErr == nil {
		t.Fatal("Send kept succeeding after the receiver died")
	}
	if !strings.Contains(sendErr.Error(), b.addr) {
		t.Errorf("Send error %q does not name the peer", sendErr)
	}
	if d := engine.DomainOf(sendErr); d != engine.DomainExternal {
		t.Errorf("Send error %q is in domain %s, want external", sendErr, d)
	}
}

// The sending worker dies mid-stream (its connection drops without an
// end of stream): the receiving task must see an error, not the end.
func TestSenderKilled(t *testing.T) {
	a, _, out, in, ta, _ := pair(t, 4)
	if err := out.Send(context.Background(), engine.Message{Batch: richBatch(a.mem, 5, 0)}); err != nil {
		t.Fatal(err)
	}
	ta.mu.Lock()
	for _, cc := range ta.conns {
		cc.Close()
	}
	ta.mu.Unlock()
	var err error
	for err == nil {
		var m engine.Message
		m, err = recvTimeout(t, in)
		if m.Batch != nil {
			m.Batch.Release()
		}
	}
	if errors.Is(err, context.DeadlineExceeded) {
		t.Fatal("Recv waited instead of failing")
	}
	t.Logf("Recv error: %v", err)
}

// Closing the sending transport before its end of stream is an abnormal
// end too.
func TestCloseBeforeEndOfStreamFailsReceiver(t *testing.T) {
	_, _, out, in, ta, _ := pair(t, 4)
	if err := out.Send(context.Background(), engine.Message{Signal: engine.SignalWatermark}); err != nil {
		t.Fatal(err)
	}
	if err := ta.Close(); err != nil {
		t.Fatal(err)
	}
	var err error
	for err == nil {
		_, err = recvTimeout(t, in)
	}
	if errors.Is(err, context.DeadlineExceeded) {
		t.Fatal("Recv waited instead of failing")
	}
}

// Close releases queued batches and ends blocked puts; senders into a
// closed inbox fail.
func TestCloseReleasesEverything(t *testing.T) {
	a, b, out, _, ta, tb := pair(t, 2)
	for i := range 4 { // 2 queued, 2 in flight
		if err := out.Send(context.Background(), engine.Message{Batch: richBatch(a.mem, 100, i)}); err != nil {
			t.Fatal(err)
		}
	}
	// A local sender into the same inbox, blocked on the full queue.
	local, err := tb.Outbox(engine.TaskAddr{NodeID: 2, Subtask: 1})
	if err != nil {
		t.Fatal(err)
	}
	lb := richBatch(b.mem, 10, 0)
	blocked := make(chan error, 1)
	go func() { blocked <- local.Send(context.Background(), engine.Message{Batch: lb}) }()
	time.Sleep(50 * time.Millisecond)
	if err := tb.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-blocked; err == nil {
		t.Error("local Send into a closed inbox succeeded")
	} else {
		lb.Release()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var sendErr error
	for sendErr == nil && ctx.Err() == nil {
		sendErr = out.Send(ctx, engine.Message{Signal: engine.SignalWatermark})
	}
	if ctx.Err() != nil {
		t.Fatal("sender did not learn that the receiver closed")
	}
	if err := ta.Close(); err != nil {
		t.Fatal(err)
	}
	// The server goroutines release what they decoded once their streams end.
	deadline := time.Now().Add(5 * time.Second)
	for b.mem.CurrentAlloc() != 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	a.mem.AssertSize(t, 0)
	b.mem.AssertSize(t, 0)
}

// A sender with credit can still block inside gRPC, on HTTP/2 flow
// control, when the receiver has stopped reading; cancelling its context
// must still free it.
func TestSendCancelledWhileFlowControlled(t *testing.T) {
	_, _, out, _, _, _ := pair(t, 64)
	big := benchBatch(1 << 16) // about 1.5 MB
	defer big.Release()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		for {
			big.Retain()
			if err := out.Send(ctx, engine.Message{Batch: big}); err != nil {
				big.Release()
				done <- err
				return
			}
		}
	}()
	time.Sleep(500 * time.Millisecond)
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Send = %v, want context.Canceled", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Send ignored its cancelled context")
	}
}

// Several senders, remote and local, feed one inbox; each one's messages
// arrive in order and every end of stream arrives.
func TestManySendersOneInbox(t *testing.T) {
	const senders, msgs = 4, 50
	a, b := startWorker(t), startWorker(t)
	dst := engine.TaskAddr{NodeID: 2, Subtask: 0}
	tb := b.transport(t, "", dst)
	in, err := tb.Inbox(dst, 3)
	if err != nil {
		t.Fatal(err)
	}
	ta := a.transport(t, b.addr)
	outs := make([]engine.Outbox, senders)
	for i := range outs {
		tr := ta
		if i == 0 {
			tr = tb // the receiver's own worker sends too
		}
		if outs[i], err = tr.Outbox(dst); err != nil {
			t.Fatal(err)
		}
	}
	errs := make(chan error, senders)
	for i, out := range outs {
		go func() {
			for n := range msgs {
				if err := out.Send(context.Background(), engine.Message{Signal: engine.SignalWatermark, From: i, Watermark: int64(n)}); err != nil {
					errs <- err
					return
				}
			}
			errs <- out.Send(context.Background(), engine.Message{Signal: engine.SignalEndOfStream, From: i})
		}()
	}
	next := make([]int64, senders)
	for ended := 0; ended < senders; {
		m, err := recvTimeout(t, in)
		if err != nil {
			t.Fatal(err)
		}
		switch m.Signal {
		case engine.SignalEndOfStream:
			if next[m.From] != msgs {
				t.Errorf("sender %d ended after %d messages", m.From, next[m.From])
			}
			ended++
		case engine.SignalWatermark:
			if m.Watermark != next[m.From] {
				t.Fatalf("sender %d: got %d, want %d", m.From, m.Watermark, next[m.From])
			}
			next[m.From]++
		}
	}
	for range senders {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}
