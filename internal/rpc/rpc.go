// Package rpc carries Runnel's internal RPCs over gRPC: the API server's
// view of the controller (ControllerService), so that the API can run apart
// from the controller and still stream a job's preview output and read its
// metrics; TLS for every link; and the conversions of the controller<->
// worker messages, whose services internal/scheduler and internal/worker
// serve.
package rpc

import (
	"context"
	"errors"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/runnel-dev/runnel/internal/metrics"
	"github.com/runnel-dev/runnel/internal/output"
)

// Controller is what the API needs from the controller; it has the same
// methods as api.Controller, restated here so that rpc does not depend on
// the API package.
type Controller interface {
	// SubscribeOutput attaches to a running job's preview output. It fails
	// with output.ErrUnknownJob or output.ErrNotRunning (possibly wrapped).
	SubscribeOutput(ctx context.Context, jobID string) (output.Stream, error)
	// JobMetrics returns the job's operator metric groups.
	JobMetrics(ctx context.Context, jobID string) ([]metrics.OperatorGroup, error)
}

// Nudger is a Controller that can be asked to re-read desired state at
// once. NewControllerServer serves Nudge when its Controller is one; Nudge
// must not block.
type Nudger interface {
	Nudge()
}

// toStatus turns a controller error into a gRPC status error. The message
// is the error's text, so the client can give back an error that reads the
// same.
func toStatus(err error) error {
	if err == nil {
		return nil
	}
	if _, ok := status.FromError(err); ok {
		return err
	}
	switch {
	case errors.Is(err, output.ErrUnknownJob):
		return status.Error(codes.NotFound, err.Error())
	case errors.Is(err, output.ErrNotRunning):
		return status.Error(codes.FailedPrecondition, err.Error())
	case errors.Is(err, context.Canceled):
		return status.Error(codes.Canceled, err.Error())
	case errors.Is(err, context.DeadlineExceeded):
		return status.Error(codes.DeadlineExceeded, err.Error())
	}
	return status.Error(codes.Internal, err.Error())
}

// remoteError is an error the controller returned over gRPC: it reads as
// the controller's message and matches (errors.Is) the sentinel its code
// stands for.
type remoteError struct {
	msg  string
	kind error
}

func (e *remoteError) Error() string { return e.msg }
func (e *remoteError) Unwrap() error { return e.kind }

// fromStatus turns a gRPC error back into the error the controller gave:
// NotFound matches output.ErrUnknownJob, FailedPrecondition
// output.ErrNotRunning, Canceled and DeadlineExceeded the context errors.
func fromStatus(err error) error {
	if err == nil {
		return nil
	}
	st, ok := status.FromError(err)
	if !ok {
		return err
	}
	var kind error
	switch st.Code() {
	case codes.NotFound:
		kind = output.ErrUnknownJob
	case codes.FailedPrecondition:
		kind = output.ErrNotRunning
	case codes.Canceled:
		kind = context.Canceled
	case codes.DeadlineExceeded:
		kind = context.DeadlineExceeded
	default:
		return err
	}
	if st.Message() == kind.Error() {
		return kind
	}
	return &remoteError{msg: st.Message(), kind: kind}
}
