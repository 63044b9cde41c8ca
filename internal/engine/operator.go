package engine

import (
	"context"
	"log/slog"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/runnel-dev/runnel/internal/output"
)

// TaskInfo tells an operator instance where it runs.
type TaskInfo struct {
	JobID       string
	RunID       int64
	NodeID      int
	OperatorID  string
	Subtask     int
	Parallelism int
	// Output receives preview rows; may be nil.
	Output output.Sink
	Logger *slog.Logger
}

// Collector receives the batches an operator emits. The batch is borrowed:
// a collector that keeps it must Retain it.
type Collector interface {
	Collect(ctx context.Context, b arrow.RecordBatch) error
}

// CollectorFunc adapts a function to Collector.
type CollectorFunc func(ctx context.Context, b arrow.RecordBatch) error

// Collect calls f.
func (f CollectorFunc) Collect(ctx context.Context, b arrow.RecordBatch) error { return f(ctx, b) }

// Source produces the batches of one subtask.
type Source interface {
	// Run emits batches to out until the source is exhausted (return nil),
	// stop is closed (return nil soon, without waiting for more data) or
	// ctx is cancelled. Whether the source was exhausted is decided by the
	// runtime from whether stop was closed.
	Run(ctx context.Context, stop <-chan struct{}, out Collector) error
}

// Operator transforms (or, at the end of a chain, consumes) batches.
type Operator interface {
	// Process handles one input batch, which it borrows.
	Process(ctx context.Context, b arrow.RecordBatch, out Collector) error
	// Finish is called once after the input has ended normally, so that
	// buffered state can be flushed to out.
	Finish(ctx context.Context, out Collector) error
}

// Closer is implemented by operators that hold resources. Close is called
// once at the end of every task, however it ended.
type Closer interface {
	Close() error
}

// Signal is a control message travelling with the data.
type Signal int

// Signals. Watermarks and checkpoint barriers will join EndOfStream.
const (
	SignalNone Signal = iota
	// SignalEndOfStream says the sending subtask will send nothing more.
	SignalEndOfStream
)

// Message is what moves between subtasks: a batch or a signal.
type Message struct {
	Batch  arrow.RecordBatch
	Signal Signal
	// From is the sending subtask's index, for signals that must be
	// aligned per input (end of stream now, barriers later).
	From int
}
