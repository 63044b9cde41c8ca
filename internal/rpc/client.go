package rpc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"

	"google.golang.org/grpc"

	"github.com/runnel-dev/runnel/internal/metrics"
	"github.com/runnel-dev/runnel/internal/output"
	pb "github.com/runnel-dev/runnel/internal/rpc/runnelpb"
)

// ControllerClient is a Controller (and an api.Controller) that reaches
// the controller over gRPC.
type ControllerClient struct {
	c pb.ControllerServiceClient
}

// NewControllerClient talks to the ControllerService behind conn.
func NewControllerClient(conn grpc.ClientConnInterface) *ControllerClient {
	return &ControllerClient{c: pb.NewControllerServiceClient(conn)}
}

// SubscribeOutput opens a SubscribeOutput stream and waits until the
// controller has accepted the subscription, so that an unknown or stopped
// job fails here (with output.ErrUnknownJob or output.ErrNotRunning), as it
// does in process, and with the controller's own message: the API shows it
// to users as it is, so it gets no prefix here. The stream lasts until ctx
// ends, the stream is closed, or the job's output ends.
func (c *ControllerClient) SubscribeOutput(ctx context.Context, jobID string) (output.Stream, error) {
	ctx, cancel := context.WithCancel(ctx)
	st, err := c.c.SubscribeOutput(ctx, &pb.SubscribeOutputRequest{JobId: jobID})
	if err != nil {
		cancel()
		return nil, fromStatus(err)
	}
	// A failed subscription ends the RPC without headers (or with headers
	// but not the subscribed one); its status is then what Recv returns.
	md, err := st.Header()
	if err == nil && len(md.Get(subscribedHeader)) == 0 {
		switch _, err = st.Recv(); {
		case err == nil:
			err = errors.New("controller sent output before accepting the subscription")
		case errors.Is(err, io.EOF):
			err = fmt.Errorf("controller ended the subscription at once: %w", io.ErrUnexpectedEOF)
		}
	}
	if err != nil {
		cancel()
		return nil, fromStatus(err)
	}
	s := &clientStream{
		cancel: cancel,
		events: make(chan output.Data),
		done:   make(chan struct{}),
	}
	go s.run(ctx, st)
	return s, nil
}

// JobMetrics fetches the job's metric groups. Like SubscribeOutput it
// returns the controller's error as it is; the API adds the job's ID.
func (c *ControllerClient) JobMetrics(ctx context.Context, jobID string) ([]metrics.OperatorGroup, error) {
	resp, err := c.c.JobMetrics(ctx, &pb.JobMetricsRequest{JobId: jobID})
	if err != nil {
		return nil, fromStatus(err)
	}
	return groupsFromPB(resp.GetOperatorGroups()), nil
}

// Nudge asks the controller to re-read desired state now rather than at
// its next poll.
func (c *ControllerClient) Nudge(ctx context.Context) error {
	if _, err := c.c.Nudge(ctx, &pb.NudgeRequest{}); err != nil {
		return fmt.Errorf("nudging the controller: %w", fromStatus(err))
	}
	return nil
}

// clientStream is an output.Stream fed by a SubscribeOutput RPC. A
// goroutine reads the RPC and hands batches to Recv; it ends with the RPC.
type clientStream struct {
	cancel  context.CancelFunc
	events  chan output.Data // closed after err is set
	err     error            // why the stream ended; io.EOF at the end of output
	done    chan struct{}    // closed when run returns
	dropped atomic.Int64
	once    sync.Once
}

func (s *clientStream) run(ctx context.Context, st grpc.ServerStreamingClient[pb.OutputEvent]) {
	defer close(s.done)
	defer s.cancel()
	defer close(s.events)
	for {
		ev, err := st.Recv()
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF // the server always ends with an OutputEnd
			}
			s.err = fmt.Errorf("output stream: %w", fromStatus(err))
			return
		}
		s.dropped.Store(ev.GetDropped())
		switch e := ev.GetEvent().(type) {
		case *pb.OutputEvent_End:
			s.err = io.EOF
			return
		case *pb.OutputEvent_Data:
			select {
			case s.events <- dataFromPB(e.Data):
			case <-ctx.Done():
				s.err = ctx.Err()
				return
			}
		}
	}
}

// Recv returns the next batch, io.EOF once the job's output has ended, or
// ctx.Err() when ctx ends first.
func (s *clientStream) Recv(ctx context.Context) (output.Data, error) {
	select {
	case d, ok := <-s.events:
		if !ok {
			return output.Data{}, s.err
		}
		return d, nil
	case <-ctx.Done():
		return output.Data{}, ctx.Err()
	}
}

// Dropped is how many batches the controller dropped for this reader, as
// of the latest event.
func (s *clientStream) Dropped() int64 { return s.dropped.Load() }

// Close ends the RPC (the controller then releases its subscription) and
// waits for the reading goroutine.
func (s *clientStream) Close() {
	s.once.Do(func() {
		s.cancel()
		<-s.done
	})
}
