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

// Signal is the kind of a control message travelling with the data.
type Signal int

// Signals. A Message is a record batch (SignalNone), a watermark, a
// checkpoint barrier or the end of a sender's stream.
const (
	SignalNone Signal = iota
	// SignalEndOfStream says the sending subtask will send nothing more.
	SignalEndOfStream
	// SignalWatermark carries Message.Watermark: the sender will send no
	// more rows with an event time before it.
	SignalWatermark
	// SignalBarrier carries Message.Epoch: a checkpoint barrier. Receivers
	// align barriers per input before snapshotting (checkpointing is not
	// implemented yet; barriers are forwarded once aligned).
	SignalBarrier
)

// Message is what moves between subtasks: a batch or a signal.
type Message struct {
	Batch  arrow.RecordBatch
	Signal Signal
	// From is the sending subtask's index, for signals that must be
	// aligned per input (end of stream, watermarks, barriers).
	From int
	// Input is the index of the edge among the receiver's inputs, in the
	// order of Program.Edges (0 for single-input nodes).
	Input int
	// Watermark is an event time in microseconds (SignalWatermark).
	Watermark int64
	// Epoch is the checkpoint epoch (SignalBarrier).
	Epoch int64
}

// WatermarkHandler is implemented by operators that act on event time
// (windows, joins with TTL). ProcessWatermark is called, in chain order,
// each time the subtask's input watermark advances: the minimum over every
// sender of every input, ignoring senders that ended or went idle.
type WatermarkHandler interface {
	ProcessWatermark(ctx context.Context, watermark int64, out Collector) error
}

// WatermarkGenerator is implemented by the operator that follows a source
// and derives watermarks from the rows it sees. After every source batch
// the runtime asks for the current watermark and, if it advanced, sends it
// through the rest of the chain and downstream.
type WatermarkGenerator interface {
	CurrentWatermark() (int64, bool)
}

// MultiInputOperator is implemented by operators with several inputs
// (joins). Such an operator heads its chain; the runtime calls
// ProcessInput with the index of the edge a batch came on instead of
// Process.
type MultiInputOperator interface {
	ProcessInput(ctx context.Context, input int, b arrow.RecordBatch, out Collector) error
}

// LateCounter is implemented by operators that drop late rows.
type LateCounter interface {
	LateRows() int64
}
