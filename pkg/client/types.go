package client

import (
	"slices"
	"time"
)

// The types below mirror the JSON of Runnel's /api/v1 (Arroyo's HEAD wire
// format: snake_case fields, camelCase `hasMore` envelopes, times in
// microseconds since the Unix epoch). They are declared here rather than
// shared with the server so that this package exposes no internal types;
// a test decodes real server responses into them with unknown fields
// disallowed, so the two cannot drift apart unnoticed.

// UnixMicros is a time as the API sends it: microseconds since the Unix
// epoch.
type UnixMicros int64

// Time converts m to a time.Time in the local zone.
func (m UnixMicros) Time() time.Time { return time.UnixMicro(int64(m)) }

// JobState is the name of a job's controller state.
type JobState string

// The fourteen job states, in lifecycle order.
const (
	StateCreated            JobState = "Created"
	StateCompiling          JobState = "Compiling"
	StateScheduling         JobState = "Scheduling"
	StateRunning            JobState = "Running"
	StateRescaling          JobState = "Rescaling"
	StateCheckpointStopping JobState = "CheckpointStopping"
	StateRecovering         JobState = "Recovering"
	StateRestarting         JobState = "Restarting"
	StateStopping           JobState = "Stopping"
	StateStopped            JobState = "Stopped"
	StateFinishing          JobState = "Finishing"
	StateFinished           JobState = "Finished"
	StateFailing            JobState = "Failing"
	StateFailed             JobState = "Failed"
)

// States lists every job state in lifecycle order.
func States() []JobState {
	return []JobState{
		StateCreated, StateCompiling, StateScheduling, StateRunning, StateRescaling,
		StateCheckpointStopping, StateRecovering, StateRestarting, StateStopping,
		StateStopped, StateFinishing, StateFinished, StateFailing, StateFailed,
	}
}

// Terminal reports whether nothing happens in the state until the user
// acts: Stopped, Finished or Failed.
func (s JobState) Terminal() bool {
	return s == StateStopped || s == StateFinished || s == StateFailed
}

// StopMode is the desired stop behaviour of a pipeline's job. StopNone
// means the job should run.
type StopMode string

// Stop modes, as they appear on the wire.
const (
	StopNone       StopMode = "none"
	StopCheckpoint StopMode = "checkpoint" // final checkpoint, then stop
	StopGraceful   StopMode = "graceful"   // sources stop, data in flight drains
	StopImmediate  StopMode = "immediate"  // tasks are cancelled now
	StopForce      StopMode = "force"      // like immediate, without waiting for tasks
)

// StopModes lists the valid stop modes.
func StopModes() []StopMode {
	return []StopMode{StopNone, StopCheckpoint, StopGraceful, StopImmediate, StopForce}
}

// Page is one page of a newest-first list.
type Page[T any] struct {
	Data    []T  `json:"data"`
	HasMore bool `json:"hasMore"`
}

// collection is a non-paginated list envelope.
type collection[T any] struct {
	Data []T `json:"data"`
}

// UDF is a user-defined function submitted inline with a pipeline.
type UDF struct {
	Definition string `json:"definition"`
	Language   string `json:"language,omitempty"` // "rust" (default) or "python"
}

// PipelinePost creates a pipeline.
type PipelinePost struct {
	Name        string `json:"name"`
	Query       string `json:"query"`
	UDFs        []UDF  `json:"udfs,omitempty"`
	Parallelism uint64 `json:"parallelism"`
	// CheckpointIntervalMicros defaults to the server's interval (10 s)
	// when nil; it must lie between 1 s and 1 day.
	CheckpointIntervalMicros *uint64 `json:"checkpoint_interval_micros,omitempty"`
}

// PreviewPost creates a preview pipeline, whose output is streamed to
// clients rather than written to its sinks.
type PreviewPost struct {
	Query string `json:"query"`
	UDFs  []UDF  `json:"udfs,omitempty"`
	// EnableSinks keeps the query's real sinks as well.
	EnableSinks bool `json:"enable_sinks,omitempty"`
}

// ValidateQueryPost asks whether a query compiles.
type ValidateQueryPost struct {
	Query string `json:"query"`
	UDFs  []UDF  `json:"udfs,omitempty"`
}

// PipelinePatch changes a pipeline's desired state; nil fields are kept.
type PipelinePatch struct {
	Stop                     *StopMode `json:"stop,omitempty"`
	Parallelism              *uint64   `json:"parallelism,omitempty"`
	CheckpointIntervalMicros *uint64   `json:"checkpoint_interval_micros,omitempty"`
}

// PipelineRestart asks for a restart of a pipeline's job.
type PipelineRestart struct {
	// Force cancels the running tasks instead of draining them.
	Force *bool `json:"force,omitempty"`
	// IgnoreState is accepted by the API only as false.
	IgnoreState *bool `json:"ignore_state,omitempty"`
}

// Graph is a pipeline's dataflow.
type Graph struct {
	Nodes []GraphNode `json:"nodes"`
	Edges []GraphEdge `json:"edges"`
}

// MaxParallelism is the highest parallelism of any node, 0 for an empty
// graph.
func (g Graph) MaxParallelism() int {
	n := 0
	for _, node := range g.Nodes {
		n = max(n, node.Parallelism)
	}
	return n
}

// GraphNode is one node of the dataflow: a fused chain of operators.
type GraphNode struct {
	NodeID      int    `json:"node_id"`
	Operator    string `json:"operator"`
	Description string `json:"description"`
	Parallelism int    `json:"parallelism"`
}

// GraphEdge connects two nodes.
type GraphEdge struct {
	SrcID     int    `json:"src_id"`
	DestID    int    `json:"dest_id"`
	KeyType   string `json:"key_type"`
	ValueType string `json:"value_type"`
	EdgeType  string `json:"edge_type"`
}

// Pipeline is a pipeline with the desired state of its job.
type Pipeline struct {
	ID                       string     `json:"id"`
	Name                     string     `json:"name"`
	Query                    string     `json:"query"`
	UDFs                     []UDF      `json:"udfs"`
	CheckpointIntervalMicros uint64     `json:"checkpoint_interval_micros"`
	Stop                     StopMode   `json:"stop"`
	CreatedAt                UnixMicros `json:"created_at"`
	// Action is the stop mode a client should PATCH when the user presses
	// the job's button, nil when the button is disabled; ActionText is
	// the button's label and ActionInProgress asks for a spinner.
	Action           *StopMode `json:"action"`
	ActionText       string    `json:"action_text"`
	ActionInProgress bool      `json:"action_in_progress"`
	Graph            Graph     `json:"graph"`
	Preview          bool      `json:"preview"`
}

// CheckpointInterval is the pipeline's checkpoint interval.
func (p Pipeline) CheckpointInterval() time.Duration {
	return time.Duration(p.CheckpointIntervalMicros) * time.Microsecond
}

// FailureReason says why a job failed and whose fault it was.
type FailureReason struct {
	Error  string `json:"error"`
	Domain string `json:"domain"` // "user", "external" or "internal"
}

// Job is one execution of a pipeline.
type Job struct {
	ID             string   `json:"id"`
	PipelineID     string   `json:"pipeline_id"`
	RunningDesired bool     `json:"running_desired"`
	State          JobState `json:"state"`
	// RunID grows every time the job is scheduled again (start, restart,
	// rescale, recovery).
	RunID            uint64         `json:"run_id"`
	StartTime        *UnixMicros    `json:"start_time"`
	FinishTime       *UnixMicros    `json:"finish_time"`
	Tasks            *int64         `json:"tasks"`
	FailureReason    *FailureReason `json:"failure_reason"`
	CreatedAt        UnixMicros     `json:"created_at"`
	Action           *StopMode      `json:"action"`
	ActionText       string         `json:"action_text"`
	ActionInProgress bool           `json:"action_in_progress"`
}

// JobLogMessage is an entry of a job's log.
type JobLogMessage struct {
	ID          string     `json:"id"`
	CreatedAt   UnixMicros `json:"created_at"`
	OperatorID  *string    `json:"operator_id"`
	TaskIndex   *int64     `json:"task_index"`
	Level       string     `json:"level"` // "info", "warn" or "error"
	Message     string     `json:"message"`
	Details     string     `json:"details"`
	ErrorDomain *string    `json:"error_domain"`
}

// CheckpointEventSpan is a timed phase of a checkpoint. FinishTime is 0
// while the phase is still running.
type CheckpointEventSpan struct {
	StartTime   UnixMicros `json:"start_time"`
	FinishTime  UnixMicros `json:"finish_time"`
	Event       string     `json:"event"`
	Description string     `json:"description"`
}

// Duration is the span's length, or 0 while it is still running.
func (s CheckpointEventSpan) Duration() time.Duration {
	if s.FinishTime == 0 || s.FinishTime < s.StartTime {
		return 0
	}
	return time.Duration(s.FinishTime-s.StartTime) * time.Microsecond
}

// Checkpoint is one epoch of a job's checkpoints.
type Checkpoint struct {
	Epoch          int64                 `json:"epoch"`
	Backend        string                `json:"backend"`
	CheckpointType string                `json:"checkpoint_type"` // "scheduled" or "stopping"
	StartTime      UnixMicros            `json:"start_time"`
	FinishTime     *UnixMicros           `json:"finish_time"` // nil while in progress
	Events         []CheckpointEventSpan `json:"events"`
}

// SubtaskCheckpointGroup is one subtask's part of an operator checkpoint.
// Its spans are named Alignment, Sync, Async and Committing.
type SubtaskCheckpointGroup struct {
	Index      int                   `json:"index"`
	Bytes      int64                 `json:"bytes"`
	EventSpans []CheckpointEventSpan `json:"event_spans"`
}

// Span returns the subtask's span named event, if it has one.
func (g SubtaskCheckpointGroup) Span(event string) (CheckpointEventSpan, bool) {
	i := slices.IndexFunc(g.EventSpans, func(s CheckpointEventSpan) bool { return s.Event == event })
	if i < 0 {
		return CheckpointEventSpan{}, false
	}
	return g.EventSpans[i], true
}

// OperatorCheckpointGroup is one operator's part of a checkpoint.
type OperatorCheckpointGroup struct {
	OperatorID           string                   `json:"operator_id"`
	Bytes                int64                    `json:"bytes"`
	StartedMetadataWrite *UnixMicros              `json:"started_metadata_write"`
	FinishTime           *UnixMicros              `json:"finish_time"`
	Subtasks             []SubtaskCheckpointGroup `json:"subtasks"`
}

// Position is a place in a query's text; line and column count from 1 and
// columns count characters (runes), not bytes.
type Position struct {
	Line   int `json:"line"`
	Column int `json:"column"`
}

// Span is a range of a query's text; End is just past the last character.
type Span struct {
	Start Position `json:"start"`
	End   Position `json:"end"`
}

// SQLDiagnostic is one problem found in a query.
type SQLDiagnostic struct {
	Message string `json:"message"`
	Span    *Span  `json:"span,omitempty"`
}

// QueryValidationResult answers ValidateQuery: the planned graph, or the
// problems found.
type QueryValidationResult struct {
	Graph  *Graph          `json:"graph"`
	Errors []SQLDiagnostic `json:"errors"`
}

// Connector describes a connector. TableConfig and ConnectionConfig are
// JSON Schema documents as strings.
type Connector struct {
	ID               string  `json:"id"`
	Name             string  `json:"name"`
	Icon             string  `json:"icon"`
	Description      string  `json:"description"`
	TableConfig      string  `json:"table_config"`
	Enabled          bool    `json:"enabled"`
	Source           bool    `json:"source"`
	Sink             bool    `json:"sink"`
	CustomSchemas    bool    `json:"custom_schemas"`
	Testing          bool    `json:"testing"`
	Hidden           bool    `json:"hidden"`
	ConnectionConfig *string `json:"connection_config"`
}

// Metric names of operator metric groups.
const (
	MetricBytesRecv    = "bytes_recv"
	MetricBytesSent    = "bytes_sent"
	MetricMessagesRecv = "messages_recv"
	MetricMessagesSent = "messages_sent"
	MetricBackpressure = "backpressure"
	MetricTxQueueSize  = "tx_queue_size"
	MetricTxQueueRem   = "tx_queue_rem"
)

// OperatorMetricGroup is every metric of one graph node.
type OperatorMetricGroup struct {
	NodeID       int           `json:"node_id"`
	MetricGroups []MetricGroup `json:"metric_groups"`
}

// MetricGroup is the series of one metric across a node's subtasks. Rates
// are per second; backpressure is a share of time from 0 to 1.
type MetricGroup struct {
	Name     string           `json:"name"`
	Subtasks []SubtaskMetrics `json:"subtasks"`
}

// SubtaskMetrics is the series of one subtask, oldest sample first.
type SubtaskMetrics struct {
	Index   int      `json:"index"`
	Metrics []Metric `json:"metrics"`
}

// Latest returns the newest sample, if there is one.
func (s SubtaskMetrics) Latest() (Metric, bool) {
	if len(s.Metrics) == 0 {
		return Metric{}, false
	}
	return s.Metrics[len(s.Metrics)-1], true
}

// Metric is one sample.
type Metric struct {
	Time  UnixMicros `json:"time"`
	Value float64    `json:"value"`
}

// OutputData is one batch of a preview job's output, as streamed by the
// output endpoint. Batch is a JSON array of row objects, as a string; use
// Rows to decode it.
type OutputData struct {
	OperatorID string `json:"operator_id"`
	SubtaskIdx int    `json:"subtask_idx"`
	// Timestamps holds each row's event time.
	Timestamps []UnixMicros `json:"timestamps"`
	// StartID numbers the batch's first row within its subtask's output.
	StartID int64  `json:"start_id"`
	Batch   string `json:"batch"`
}

// errorBody is the body of every error response.
type errorBody struct {
	Error string `json:"error"`
}
