// Package output carries preview rows from a job's preview sink to the
// clients watching it. The job side writes through Sink; readers get a
// Stream. Both are interfaces so that a gRPC stream can stand in for the
// in-process hub when the API and controller run apart.
package output

import (
	"context"
	"errors"
)

// Data is one batch of preview rows, in the wire shape of Arroyo's
// OutputData. Batch is a JSON array of row objects, as a string.
type Data struct {
	OperatorID string  `json:"operator_id"`
	SubtaskIdx int     `json:"subtask_idx"`
	Timestamps []int64 `json:"timestamps"`
	StartID    int64   `json:"start_id"`
	Batch      string  `json:"batch"`
	// Done marks the last message of a subtask; it is never sent to clients.
	Done bool `json:"-"`
}

// Sink receives a job's preview output. Send must not block on slow
// readers.
type Sink interface {
	Send(ctx context.Context, d Data) error
}

// Stream is one reader's view of a job's output.
type Stream interface {
	// Recv returns the next batch. It returns io.EOF once the job's output
	// has ended, and ctx.Err() when the caller gives up.
	Recv(ctx context.Context) (Data, error)
	// Dropped is how many batches this reader missed because it fell behind.
	Dropped() int64
	Close()
}

// Errors a subscription can fail with.
var (
	ErrUnknownJob = errors.New("job does not exist")
	ErrNotRunning = errors.New("job must be running to read output")
)
