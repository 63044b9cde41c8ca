package exchange

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/apache/arrow-go/v18/arrow/memory"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	"github.com/runnel-dev/runnel/internal/engine"
	"github.com/runnel-dev/runnel/internal/rpc/runnelpb"
)

// DefaultWaitTimeout is how long an Exchange stream waits for its inbox
// to be created: the sender's execution may start before ours.
const DefaultWaitTimeout = 30 * time.Second

// Service is the receiving side of DataService: it puts the messages of
// each Exchange stream into the registered inbox they are for.
type Service struct {
	runnelpb.UnimplementedDataServiceServer

	reg *Registry
	// WaitTimeout bounds the wait for the destination inbox.
	WaitTimeout time.Duration
	// Allocator holds decoded batches.
	Allocator memory.Allocator
}

// NewService returns the DataService of the worker whose inboxes reg holds.
func NewService(reg *Registry) *Service {
	return &Service{reg: reg, WaitTimeout: DefaultWaitTimeout, Allocator: memory.DefaultAllocator}
}

// Exchange receives one sender's stream. The first frame carries only the
// header; every later frame is one message.
func (s *Service) Exchange(stream runnelpb.DataService_ExchangeServer) error {
	ctx := stream.Context()
	first, err := stream.Recv()
	if err != nil {
		return err
	}
	h := first.GetHeader()
	if h == nil {
		return status.Error(codes.InvalidArgument, "first frame has no header")
	}
	k := key{job: h.JobId, run: h.RunId, addr: engine.TaskAddr{NodeID: int(h.NodeId), Subtask: int(h.Subtask)}}
	wctx, cancel := context.WithTimeout(ctx, s.WaitTimeout)
	in, err := s.reg.wait(wctx, k)
	cancel()
	if err != nil {
		if ctx.Err() != nil {
			return status.FromContextError(ctx.Err()).Err()
		}
		return status.Errorf(codes.NotFound, "no inbox %s after %s", k, s.WaitTimeout)
	}
	from := "unknown peer"
	if p, ok := peer.FromContext(ctx); ok {
		from = p.Addr.String()
	}
	// An unbuffered inbox still takes one message at a time.
	if err := stream.Send(&runnelpb.Credit{Credits: int64(max(in.Cap(), 1))}); err != nil {
		in.fail(fmt.Errorf("exchange from %s into %s: grant credit: %w", from, k.addr, err))
		return err
	}
	dec := &decoder{mem: s.Allocator}
	defer dec.close()
	ended := false
	for {
		f, err := stream.Recv()
		if err != nil {
			if ended {
				return nil // the sender said all it had to say
			}
			if errors.Is(err, io.EOF) {
				err = status.Error(codes.Aborted, "stream closed before end of stream")
			}
			in.fail(fmt.Errorf("exchange from %s into %s: %w", from, k.addr, err))
			return err
		}
		if ended {
			continue
		}
		m, err := dec.decode(f)
		if err != nil {
			in.fail(fmt.Errorf("exchange from %s into %s: %w", from, k.addr, err))
			return status.Error(codes.InvalidArgument, err.Error())
		}
		if err := in.put(ctx, m); err != nil {
			if m.Batch != nil {
				m.Batch.Release()
			}
			if errors.Is(err, errInboxClosed) {
				// Our execution is over; tell the sender.
				return status.Errorf(codes.Aborted, "inbox %s closed", k)
			}
			in.fail(fmt.Errorf("exchange from %s into %s: %w", from, k.addr, err))
			return status.FromContextError(err).Err()
		}
		if m.Signal == engine.SignalEndOfStream {
			ended = true
			dec.close() // let go of the last batch now
			continue
		}
		if err := stream.Send(&runnelpb.Credit{Credits: 1}); err != nil {
			in.fail(fmt.Errorf("exchange from %s into %s: grant credit: %w", from, k.addr, err))
			return err
		}
	}
}
