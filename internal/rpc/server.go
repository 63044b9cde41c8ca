package rpc

import (
	"context"
	"errors"
	"fmt"
	"io"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	pb "github.com/runnel-dev/runnel/internal/rpc/runnelpb"
)

// subscribedHeader is the response header SubscribeOutput sends once the
// subscription is in place.
const subscribedHeader = "runnel-subscribed"

// controllerServer serves ControllerService from a Controller.
type controllerServer struct {
	pb.UnimplementedControllerServiceServer
	c Controller
}

// NewControllerServer serves ControllerService from c. Register it with
// pb.RegisterControllerServiceServer. Nudge is served when c is a Nudger
// and fails with codes.Unimplemented otherwise.
func NewControllerServer(c Controller) pb.ControllerServiceServer {
	return &controllerServer{c: c}
}

// SubscribeOutput relays a job's output. Once subscribed it sends the
// response headers at once, so the client learns that the subscription
// succeeded (or why not) before the first batch. gRPC flow control holds
// the relay back when the client reads slowly; the subscription then drops
// batches for this reader, as it would for a slow SSE client in process.
func (s *controllerServer) SubscribeOutput(req *pb.SubscribeOutputRequest, stream grpc.ServerStreamingServer[pb.OutputEvent]) error {
	ctx := stream.Context()
	sub, err := s.c.SubscribeOutput(ctx, req.GetJobId())
	if err != nil {
		return toStatus(err)
	}
	defer sub.Close()
	if err := stream.SendHeader(metadata.Pairs(subscribedHeader, "1")); err != nil {
		return err
	}
	for {
		d, err := sub.Recv(ctx)
		if errors.Is(err, io.EOF) {
			return stream.Send(&pb.OutputEvent{
				Event:   &pb.OutputEvent_End{End: &pb.OutputEnd{}},
				Dropped: sub.Dropped(),
			})
		}
		if err != nil {
			return toStatus(fmt.Errorf("reading output of %s: %w", req.GetJobId(), err))
		}
		ev := &pb.OutputEvent{Event: &pb.OutputEvent_Data{Data: dataToPB(d)}, Dropped: sub.Dropped()}
		if err := stream.Send(ev); err != nil {
			return err
		}
	}
}

// JobMetrics returns the job's metric groups.
func (s *controllerServer) JobMetrics(ctx context.Context, req *pb.JobMetricsRequest) (*pb.JobMetricsResponse, error) {
	gs, err := s.c.JobMetrics(ctx, req.GetJobId())
	if err != nil {
		return nil, toStatus(err)
	}
	return &pb.JobMetricsResponse{OperatorGroups: groupsToPB(gs)}, nil
}

// Nudge passes the nudge on. It returns as soon as the controller has it,
// not when the controller has acted on it.
func (s *controllerServer) Nudge(context.Context, *pb.NudgeRequest) (*pb.NudgeResponse, error) {
	n, ok := s.c.(Nudger)
	if !ok {
		return nil, status.Error(codes.Unimplemented, "controller takes no nudges")
	}
	n.Nudge()
	return &pb.NudgeResponse{}, nil
}
