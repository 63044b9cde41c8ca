package api

import (
	"cmp"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/runnel-dev/runnel/internal/engine"
	"github.com/runnel-dev/runnel/internal/lifecycle"
	"github.com/runnel-dev/runnel/internal/metrics"
	"github.com/runnel-dev/runnel/internal/store"
)

// Wire types. Field names are Arroyo HEAD's (snake_case), envelopes keep
// Arroyo's camelCase `hasMore`. Times are microseconds since the epoch.
// The api struct tag marks required request fields and enumerations; the
// OpenAPI document is generated from these same types.

// Collection is a non-paginated list.
type Collection[T any] struct {
	Data []T `json:"data" api:"required"`
}

// PaginatedCollection is one page of a newest-first list.
type PaginatedCollection[T any] struct {
	Data    []T  `json:"data" api:"required"`
	HasMore bool `json:"hasMore" api:"required"`
}

// UDF is a user-defined function submitted inline with a pipeline.
type UDF struct {
	Definition string `json:"definition" api:"required"`
	Language   string `json:"language,omitempty" api:"enum=rust|python"`
}

// PipelinePost creates a pipeline.
type PipelinePost struct {
	Name                     string  `json:"name" api:"required"`
	Query                    string  `json:"query" api:"required"`
	UDFs                     []UDF   `json:"udfs,omitempty"`
	Parallelism              uint64  `json:"parallelism" api:"required"`
	CheckpointIntervalMicros *uint64 `json:"checkpoint_interval_micros,omitempty"`
}

// PreviewPost creates a preview pipeline.
type PreviewPost struct {
	Query       string `json:"query" api:"required"`
	UDFs        []UDF  `json:"udfs,omitempty"`
	EnableSinks bool   `json:"enable_sinks,omitempty"`
}

// ValidateQueryPost asks whether a query compiles.
type ValidateQueryPost struct {
	Query string `json:"query" api:"required"`
	UDFs  []UDF  `json:"udfs,omitempty"`
}

// PipelinePatch changes a pipeline's desired state; absent fields are kept.
type PipelinePatch struct {
	Stop                     *string `json:"stop,omitempty" api:"enum=none|checkpoint|graceful|immediate|force"`
	Parallelism              *uint64 `json:"parallelism,omitempty"`
	CheckpointIntervalMicros *uint64 `json:"checkpoint_interval_micros,omitempty"`
}

// PipelineRestart asks for a restart; the body may be {}.
type PipelineRestart struct {
	Force       *bool `json:"force,omitempty"`
	IgnoreState *bool `json:"ignore_state,omitempty"`
}

// Pipeline is a pipeline with the state of its job.
type Pipeline struct {
	ID                       string           `json:"id" api:"required"`
	Name                     string           `json:"name" api:"required"`
	Query                    string           `json:"query" api:"required"`
	UDFs                     []UDF            `json:"udfs" api:"required"`
	CheckpointIntervalMicros uint64           `json:"checkpoint_interval_micros" api:"required"`
	Stop                     string           `json:"stop" api:"required,enum=none|checkpoint|graceful|immediate|force"`
	CreatedAt                int64            `json:"created_at" api:"required"`
	Action                   *string          `json:"action" api:"required,enum=none|checkpoint|graceful|immediate|force"`
	ActionText               string           `json:"action_text" api:"required"`
	ActionInProgress         bool             `json:"action_in_progress" api:"required"`
	Graph                    engine.GraphView `json:"graph" api:"required"`
	Preview                  bool             `json:"preview" api:"required"`
}

// FailureReason says why a job failed and whose fault it was.
type FailureReason struct {
	Error  string `json:"error" api:"required"`
	Domain string `json:"domain" api:"required,enum=user|external|internal"`
}

// Job is one execution of a pipeline.
type Job struct {
	ID               string         `json:"id" api:"required"`
	PipelineID       string         `json:"pipeline_id" api:"required"`
	RunningDesired   bool           `json:"running_desired" api:"required"`
	State            string         `json:"state" api:"required"`
	RunID            uint64         `json:"run_id" api:"required"`
	StartTime        *int64         `json:"start_time" api:"required"`
	FinishTime       *int64         `json:"finish_time" api:"required"`
	Tasks            *int64         `json:"tasks" api:"required"`
	FailureReason    *FailureReason `json:"failure_reason" api:"required"`
	CreatedAt        int64          `json:"created_at" api:"required"`
	Action           *string        `json:"action" api:"required,enum=none|checkpoint|graceful|immediate|force"`
	ActionText       string         `json:"action_text" api:"required"`
	ActionInProgress bool           `json:"action_in_progress" api:"required"`
}

// JobLogMessage is an entry of a job's log.
type JobLogMessage struct {
	ID          string  `json:"id" api:"required"`
	CreatedAt   int64   `json:"created_at" api:"required"`
	OperatorID  *string `json:"operator_id" api:"required"`
	TaskIndex   *int64  `json:"task_index" api:"required"`
	Level       string  `json:"level" api:"required,enum=info|warn|error"`
	Message     string  `json:"message" api:"required"`
	Details     string  `json:"details" api:"required"`
	ErrorDomain *string `json:"error_domain" api:"required,enum=user|external|internal"`
}

// CheckpointEventSpan is a timed phase of a checkpoint. FinishTime is 0
// while the phase is still running.
type CheckpointEventSpan struct {
	StartTime   int64  `json:"start_time" api:"required"`
	FinishTime  int64  `json:"finish_time" api:"required"`
	Event       string `json:"event" api:"required"`
	Description string `json:"description" api:"required"`
}

// Checkpoint is one epoch of a job's checkpoints.
type Checkpoint struct {
	Epoch          int64                 `json:"epoch" api:"required"`
	Backend        string                `json:"backend" api:"required"`
	CheckpointType string                `json:"checkpoint_type" api:"required,enum=scheduled|stopping"`
	StartTime      int64                 `json:"start_time" api:"required"`
	FinishTime     *int64                `json:"finish_time" api:"required"`
	Events         []CheckpointEventSpan `json:"events" api:"required"`
}

// SubtaskCheckpointGroup is one subtask's part of an operator checkpoint.
type SubtaskCheckpointGroup struct {
	Index      int                   `json:"index" api:"required"`
	Bytes      int64                 `json:"bytes" api:"required"`
	EventSpans []CheckpointEventSpan `json:"event_spans" api:"required"`
}

// OperatorCheckpointGroup is one operator's part of a checkpoint.
type OperatorCheckpointGroup struct {
	OperatorID           string                   `json:"operator_id" api:"required"`
	Bytes                int64                    `json:"bytes" api:"required"`
	StartedMetadataWrite *int64                   `json:"started_metadata_write" api:"required"`
	FinishTime           *int64                   `json:"finish_time" api:"required"`
	Subtasks             []SubtaskCheckpointGroup `json:"subtasks" api:"required"`
}

// Position is a place in the query text, 1-based.
type Position struct {
	Line   int `json:"line" api:"required"`
	Column int `json:"column" api:"required"`
}

// Span is a range of the query text.
type Span struct {
	Start Position `json:"start" api:"required"`
	End   Position `json:"end" api:"required"`
}

// SQLDiagnostic is one problem found in a query.
type SQLDiagnostic struct {
	Message string `json:"message" api:"required"`
	Span    *Span  `json:"span,omitempty"`
}

// QueryValidationResult answers validate_query: a graph or the errors.
type QueryValidationResult struct {
	Graph  *engine.GraphView `json:"graph" api:"required"`
	Errors []SQLDiagnostic   `json:"errors" api:"required"`
}

// Connector describes a connector. TableConfig and ConnectionConfig are
// JSON Schema documents as strings.
type Connector struct {
	ID               string  `json:"id" api:"required"`
	Name             string  `json:"name" api:"required"`
	Icon             string  `json:"icon" api:"required"`
	Description      string  `json:"description" api:"required"`
	TableConfig      string  `json:"table_config" api:"required"`
	Enabled          bool    `json:"enabled" api:"required"`
	Source           bool    `json:"source" api:"required"`
	Sink             bool    `json:"sink" api:"required"`
	CustomSchemas    bool    `json:"custom_schemas" api:"required"`
	Testing          bool    `json:"testing" api:"required"`
	Hidden           bool    `json:"hidden" api:"required"`
	ConnectionConfig *string `json:"connection_config" api:"required"`
}

func micros(t time.Time) int64 { return t.UnixMicro() }

func microsPtr(t *time.Time) *int64 {
	if t == nil {
		return nil
	}
	v := t.UnixMicro()
	return &v
}

func stopPtr(m *lifecycle.StopMode) *string {
	if m == nil {
		return nil
	}
	s := string(*m)
	return &s
}

// pipelineOut renders a stored pipeline. The graph shows the job's
// parallelism overrides, which is what the job actually runs with.
func pipelineOut(p store.Pipeline) (Pipeline, error) {
	graph, err := graphOut(p.Graph, p.Job.Config.ParallelismOverrides)
	if err != nil {
		return Pipeline{}, fmt.Errorf("pipeline %s: %w", p.ID, err)
	}
	udfs := make([]UDF, 0, len(p.UDFs))
	for _, u := range p.UDFs {
		udfs = append(udfs, UDF{Definition: u.Definition, Language: u.Language})
	}
	running := p.Job.Config.Stop == lifecycle.StopNone
	act := lifecycle.ActionFor(stateOf(p.Job), running)
	return Pipeline{
		ID:                       p.ID,
		Name:                     p.Name,
		Query:                    p.Query,
		UDFs:                     udfs,
		CheckpointIntervalMicros: uint64(p.Job.Config.CheckpointInterval.Microseconds()),
		Stop:                     string(p.Job.Config.Stop),
		CreatedAt:                micros(p.CreatedAt),
		Action:                   stopPtr(act.Stop),
		ActionText:               act.Text,
		ActionInProgress:         act.InProgress,
		Graph:                    graph,
		Preview:                  p.Preview || p.Job.Config.TTL > 0,
	}, nil
}

func stateOf(j store.Job) lifecycle.State {
	if j.Status.State == "" {
		return lifecycle.Created
	}
	return j.Status.State
}

func graphOut(raw []byte, overrides map[int]int) (engine.GraphView, error) {
	var g engine.GraphView
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &g); err != nil {
			return engine.GraphView{}, fmt.Errorf("decoding stored graph: %w", err)
		}
	}
	g = normGraph(g)
	for i, n := range g.Nodes {
		if p, ok := overrides[n.NodeID]; ok {
			g.Nodes[i].Parallelism = p
		}
	}
	return g, nil
}

// normGraph makes empty lists encode as [] rather than null.
func normGraph(g engine.GraphView) engine.GraphView {
	if g.Nodes == nil {
		g.Nodes = []engine.NodeView{}
	}
	if g.Edges == nil {
		g.Edges = []engine.EdgeView{}
	}
	return g
}

func marshalGraph(g engine.GraphView) ([]byte, error) {
	b, err := json.Marshal(normGraph(g))
	if err != nil {
		return nil, fmt.Errorf("encoding graph: %w", err)
	}
	return b, nil
}

func jobOut(j store.Job) Job {
	running := j.Config.Stop == lifecycle.StopNone
	state := stateOf(j)
	act := lifecycle.ActionFor(state, running)
	out := Job{
		ID:               j.ID,
		PipelineID:       j.PipelineID,
		RunningDesired:   running,
		State:            string(state),
		RunID:            uint64(max(j.Status.RunID, 0)),
		StartTime:        microsPtr(j.Status.StartTime),
		FinishTime:       microsPtr(j.Status.FinishTime),
		CreatedAt:        micros(j.CreatedAt),
		Action:           stopPtr(act.Stop),
		ActionText:       act.Text,
		ActionInProgress: act.InProgress,
	}
	if j.Status.Tasks != nil {
		t := int64(*j.Status.Tasks)
		out.Tasks = &t
	}
	if f := j.Status.Failure; f != nil {
		d := f.Domain
		if d == "" {
			d = store.DomainInternal
		}
		out.FailureReason = &FailureReason{Error: f.Error, Domain: string(d)}
	}
	return out
}

func logMessageOut(m store.LogMessage) JobLogMessage {
	out := JobLogMessage{
		ID:         m.ID,
		CreatedAt:  micros(m.CreatedAt),
		OperatorID: m.OperatorID,
		Level:      string(m.Level),
		Message:    m.Message,
		Details:    m.Details,
	}
	if m.TaskIndex != nil {
		t := int64(*m.TaskIndex)
		out.TaskIndex = &t
	}
	if m.Domain != nil {
		d := string(*m.Domain)
		out.ErrorDomain = &d
	}
	return out
}

// Job-level checkpoint phases and their descriptions.
var checkpointEventDescriptions = map[string]string{
	"Checkpointing":          "The entire checkpointing process",
	"CheckpointingOperators": "The time spent checkpointing operator states",
	"WritingMetadata":        "Writing the final checkpoint metadata",
	"Compacting":             "Compacting old checkpoints",
	"Committing":             "Running two-phase commit for transactional connectors",
}

func checkpointOut(c store.Checkpoint) Checkpoint {
	typ := "scheduled"
	if c.Stopping {
		typ = "stopping"
	}
	events := make([]CheckpointEventSpan, 0, len(c.Events))
	for _, e := range c.Events {
		var finish int64
		if e.FinishTime != nil {
			finish = micros(*e.FinishTime)
		}
		events = append(events, CheckpointEventSpan{
			StartTime:   micros(e.StartTime),
			FinishTime:  finish,
			Event:       e.Event,
			Description: checkpointEventDescriptions[e.Event],
		})
	}
	return Checkpoint{
		Epoch:          c.Epoch,
		Backend:        c.Backend,
		CheckpointType: typ,
		StartTime:      micros(c.StartTime),
		FinishTime:     microsPtr(c.FinishTime),
		Events:         events,
	}
}

// operatorGroupsOut derives per-subtask phase spans from the raw events
// the subtasks reported, sorted by operator id then subtask index so that
// clients need not sort (Arroyo returns hash-map order).
func operatorGroupsOut(ops []store.OperatorCheckpoint) []OperatorCheckpointGroup {
	out := make([]OperatorCheckpointGroup, 0, len(ops))
	for _, op := range ops {
		g := OperatorCheckpointGroup{
			OperatorID:           op.OperatorID,
			StartedMetadataWrite: microsPtr(op.StartedMetadataWrite),
			FinishTime:           microsPtr(op.FinishTime),
			Subtasks:             make([]SubtaskCheckpointGroup, 0, len(op.Tasks)),
		}
		for _, t := range op.Tasks {
			var bytes int64
			if t.Bytes != nil {
				bytes = *t.Bytes
			}
			g.Bytes += bytes
			g.Subtasks = append(g.Subtasks, SubtaskCheckpointGroup{
				Index:      t.SubtaskIndex,
				Bytes:      bytes,
				EventSpans: subtaskSpans(t),
			})
		}
		slices.SortFunc(g.Subtasks, func(a, b SubtaskCheckpointGroup) int { return cmp.Compare(a.Index, b.Index) })
		out = append(out, g)
	}
	slices.SortFunc(out, func(a, b OperatorCheckpointGroup) int { return cmp.Compare(a.OperatorID, b.OperatorID) })
	return out
}

// subtaskSpans turns raw events into Alignment, Sync, Async and Committing
// spans. Each uses the first occurrence of its events and is emitted only
// when both ends are known.
func subtaskSpans(t store.TaskCheckpoint) []CheckpointEventSpan {
	first := make(map[store.TaskEventType]time.Time)
	for _, e := range t.Events {
		if _, seen := first[e.Type]; !seen {
			first[e.Type] = e.Time
		}
	}
	at := func(typ store.TaskEventType) *time.Time {
		if v, ok := first[typ]; ok {
			return &v
		}
		return nil
	}
	spans := make([]CheckpointEventSpan, 0, 4)
	add := func(event, desc string, start, finish *time.Time) {
		if start == nil || finish == nil {
			return
		}
		spans = append(spans, CheckpointEventSpan{
			StartTime: micros(*start), FinishTime: micros(*finish), Event: event, Description: desc,
		})
	}
	add("Alignment", "Time spent waiting for alignment barriers", at(store.EventAlignmentStarted), at(store.EventCheckpointStarted))
	add("Sync", "The synchronous part of checkpointing", at(store.EventCheckpointStarted), at(store.EventSyncFinished))
	add("Async", "The asynchronous part of checkpointing", at(store.EventSyncFinished), t.FinishTime)
	add("Committing", "Committing the checkpoint", t.FinishTime, at(store.EventPreCommit))
	return spans
}

// metricGroupsOut sorts live metrics by node id, then metric name and
// subtask index, and never returns nil lists.
func metricGroupsOut(groups []metrics.OperatorGroup) []metrics.OperatorGroup {
	out := slices.Clone(groups)
	if out == nil {
		out = []metrics.OperatorGroup{}
	}
	for i := range out {
		mg := slices.Clone(out[i].MetricGroups)
		if mg == nil {
			mg = []metrics.Group{}
		}
		for j := range mg {
			st := slices.Clone(mg[j].Subtasks)
			if st == nil {
				st = []metrics.SubtaskMetrics{}
			}
			for k := range st {
				if st[k].Metrics == nil {
					st[k].Metrics = []metrics.Point{}
				}
			}
			slices.SortStableFunc(st, func(a, b metrics.SubtaskMetrics) int { return cmp.Compare(a.Index, b.Index) })
			mg[j].Subtasks = st
		}
		slices.SortStableFunc(mg, func(a, b metrics.Group) int { return cmp.Compare(a.Name, b.Name) })
		out[i].MetricGroups = mg
	}
	slices.SortStableFunc(out, func(a, b metrics.OperatorGroup) int { return cmp.Compare(a.NodeID, b.NodeID) })
	return out
}
