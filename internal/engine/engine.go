// Package engine runs a physical dataflow: each node's operator chain as N
// parallel subtasks exchanging Arrow record batches.
package engine

import (
	"context"
	"log/slog"

	"github.com/runnel-dev/runnel/internal/metrics"
	"github.com/runnel-dev/runnel/internal/output"
)

// GraphView is the dataflow as the API shows it (Arroyo's PipelineGraph).
type GraphView struct {
	Nodes []NodeView `json:"nodes"`
	Edges []EdgeView `json:"edges"`
}

// NodeView is one node: a fused chain of operators.
type NodeView struct {
	NodeID      int    `json:"node_id"`
	Operator    string `json:"operator"`
	Description string `json:"description"`
	Parallelism int    `json:"parallelism"`
}

// EdgeView connects two nodes.
type EdgeView struct {
	SrcID     int    `json:"src_id"`
	DestID    int    `json:"dest_id"`
	KeyType   string `json:"key_type"`
	ValueType string `json:"value_type"`
	EdgeType  string `json:"edge_type"`
}

// StopMode says how a running execution ends.
type StopMode int

// Stop modes.
const (
	// StopGraceful stops the sources and lets in-flight data drain through
	// the sinks.
	StopGraceful StopMode = iota
	// StopImmediate cancels every subtask now.
	StopImmediate
)

// RunOptions configure one execution.
type RunOptions struct {
	JobID  string
	RunID  int64
	Output output.Sink // where preview sinks send rows; may be nil
	Logger *slog.Logger
	// Checkpoints, when set, lets the run take checkpoints and start from
	// one.
	Checkpoints *CheckpointOptions
	// Assigned, when set, restricts the run to the subtasks it returns true
	// for: the share of one worker when a job's subtasks are spread over
	// several. The transport must reach the other subtasks. Nil runs all.
	Assigned func(TaskAddr) bool
	// Plan is what the program was planned from, for runners that plan it
	// again on other machines.
	Plan PlanSource
}

// PlanSource is the input the SQL planner turned into a program.
type PlanSource struct {
	Query       string
	Parallelism int
	Preview     bool
	EnableSinks bool
	// Overrides are per-node parallelism overrides (Program.WithParallelism).
	Overrides map[int]int
}

// TaskError is a failure of one subtask.
type TaskError struct {
	OperatorID string
	Subtask    int
	Err        error
}

func (e *TaskError) Error() string { return e.OperatorID + ": " + e.Err.Error() }
func (e *TaskError) Unwrap() error { return e.Err }

// Execution is a running dataflow.
type Execution interface {
	// Done is closed when every subtask has ended.
	Done() <-chan struct{}
	// Err is nil if the execution ended because its sources were exhausted
	// or it was stopped; otherwise the first *TaskError. Valid after Done.
	Err() error
	// Finished reports whether it ended because every source was exhausted.
	Finished() bool
	// Stop asks the execution to end; it returns at once.
	Stop(mode StopMode)
	// Tasks is the number of subtasks.
	Tasks() int
	// Metrics snapshots every subtask's counters.
	Metrics() []metrics.TaskCounters
	// Checkpoint starts epoch: sources inject its barrier and every
	// subtask reports through CheckpointOptions.OnReport. After a final
	// one the sources emit nothing more. Runs without CheckpointOptions
	// return ErrCheckpointsDisabled.
	Checkpoint(epoch int64, final bool) error
	// Commit tells two-phase sinks that epoch is durable.
	Commit(ctx context.Context, epoch int64) error
}

// Runner starts executions of programs.
type Runner interface {
	Start(ctx context.Context, p *Program, opts RunOptions) (Execution, error)
}
