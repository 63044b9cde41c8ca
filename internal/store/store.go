// Package store defines Runnel's metadata store: pipelines, their jobs
// (desired config written by the API, actual status written by the
// controller), job log messages and checkpoint records. Implementations live
// in the sqlite and postgres subpackages and share one test suite
// (storetest). Every row carries its organisation id.
package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/runnel-dev/runnel/internal/lifecycle"
)

// DefaultOrg is the organisation every request belongs to until
// authentication lands.
const DefaultOrg = "org"

// Errors returned by every implementation; callers test with errors.Is/As.
var (
	ErrNotFound    = errors.New("not found")
	ErrDuplicate   = errors.New("a record already exists with that name or id")
	ErrNotTerminal = errors.New("pipeline's jobs must be in a terminal state (stopped, finished, or failed) before it can be deleted")
)

// LimitError is returned when an operation would run more jobs than the
// organisation allows.
type LimitError struct{ Max int }

func (e *LimitError) Error() string {
	return fmt.Sprintf("organisation limit of %d running jobs reached; stop a running job first", e.Max)
}

// Page selects one page of a newest-first listing. StartingAfter is the id of
// the last item of the previous page ("" for the first page).
type Page struct {
	StartingAfter string
	Limit         int
}

// UDF is a user-defined function submitted with a pipeline.
type UDF struct {
	Definition string `json:"definition"`
	Language   string `json:"language"`
}

// Pipeline is a named SQL query and its (single) job.
type Pipeline struct {
	OrgID       string
	ID          string // pl_…
	Name        string
	Query       string
	UDFs        []UDF
	Preview     bool // results go to the preview sink
	EnableSinks bool // preview keeps the query's own sinks as well
	Parallelism int
	Graph       []byte // JSON of the planned dataflow (engine.GraphView)
	CreatedAt   time.Time
	Job         Job
}

// Job is one execution of a pipeline.
type Job struct {
	OrgID      string
	ID         string // job_…
	PipelineID string
	CreatedAt  time.Time
	Config     JobConfig
	Status     JobStatus
}

// RestartMode says how a restart requested through the API is carried out.
type RestartMode string

// Restart modes.
const (
	RestartSafe  RestartMode = "safe"
	RestartForce RestartMode = "force"
)

// JobConfig is the desired state, written by the API.
type JobConfig struct {
	Stop                 lifecycle.StopMode
	CheckpointInterval   time.Duration
	ParallelismOverrides map[int]int // node id → parallelism; nil when none
	RestartNonce         int64
	RestartMode          RestartMode
	TTL                  time.Duration // 0: no TTL (not a preview)
	UpdatedAt            time.Time
}

// ErrorDomain classifies whose fault a failure is.
type ErrorDomain string

// Error domains.
const (
	DomainUser     ErrorDomain = "user"
	DomainExternal ErrorDomain = "external"
	DomainInternal ErrorDomain = "internal"
)

// Failure is why a job failed.
type Failure struct {
	Error  string
	Domain ErrorDomain
}

// JobStatus is the actual state, written by the controller.
type JobStatus struct {
	State        lifecycle.State
	RunID        int64
	StartTime    *time.Time
	FinishTime   *time.Time
	Tasks        *int
	Failure      *Failure
	Restarts     int
	RestartNonce int64 // the config nonce the controller last acted on
	UpdatedAt    time.Time
}

// ConfigPatch changes a job's desired state; nil fields are left alone.
type ConfigPatch struct {
	Stop                 *lifecycle.StopMode
	CheckpointInterval   *time.Duration
	ParallelismOverrides map[int]int // nil: unchanged
}

// LogLevel of a job log message.
type LogLevel string

// Log levels.
const (
	LevelInfo  LogLevel = "info"
	LevelWarn  LogLevel = "warn"
	LevelError LogLevel = "error"
)

// LogMessage is an entry in a job's history.
type LogMessage struct {
	OrgID      string
	ID         string // jlm_…
	JobID      string
	CreatedAt  time.Time
	OperatorID *string
	TaskIndex  *int
	Level      LogLevel
	Message    string
	Details    string
	Domain     *ErrorDomain
}

// CheckpointState is the progress of one checkpoint epoch.
type CheckpointState string

// Checkpoint states.
const (
	CheckpointInProgress CheckpointState = "inprogress"
	CheckpointCommitting CheckpointState = "committing"
	CheckpointReady      CheckpointState = "ready"
	CheckpointCompacting CheckpointState = "compacting"
	CheckpointCompacted  CheckpointState = "compacted"
	CheckpointFailed     CheckpointState = "failed"
)

// Checkpoint is the record of one epoch.
type Checkpoint struct {
	OrgID      string
	ID         string // chk_…
	JobID      string
	Epoch      int64
	Backend    string
	State      CheckpointState
	Stopping   bool // taken as part of a stop or rescale
	StartTime  time.Time
	FinishTime *time.Time
	Events     []CheckpointEvent
	Operators  []OperatorCheckpoint
}

// CheckpointEvent is a job-level span (Checkpointing, WritingMetadata, …).
type CheckpointEvent struct {
	Event      string     `json:"event"`
	StartTime  time.Time  `json:"start_time"`
	FinishTime *time.Time `json:"finish_time,omitempty"`
}

// OperatorCheckpoint is one operator's part of a checkpoint.
type OperatorCheckpoint struct {
	OperatorID           string           `json:"operator_id"`
	StartTime            time.Time        `json:"start_time"`
	FinishTime           *time.Time       `json:"finish_time,omitempty"`
	StartedMetadataWrite *time.Time       `json:"started_metadata_write,omitempty"`
	HasState             bool             `json:"has_state"`
	Tasks                []TaskCheckpoint `json:"tasks"`
}

// TaskCheckpoint is one subtask's part of an operator's checkpoint.
type TaskCheckpoint struct {
	SubtaskIndex int         `json:"subtask_index"`
	StartTime    time.Time   `json:"start_time"`
	FinishTime   *time.Time  `json:"finish_time,omitempty"`
	Bytes        *int64      `json:"bytes,omitempty"`
	Events       []TaskEvent `json:"events"`
}

// TaskEventType is a raw checkpoint event reported by a subtask.
type TaskEventType string

// Raw task checkpoint events, in the order a subtask reports them.
const (
	EventAlignmentStarted  TaskEventType = "alignment_started"
	EventCheckpointStarted TaskEventType = "checkpoint_started"
	EventOperatorSetup     TaskEventType = "operator_setup_finished"
	EventSyncFinished      TaskEventType = "sync_finished"
	EventPreCommit         TaskEventType = "pre_commit"
)

// TaskEvent is one raw event with its time.
type TaskEvent struct {
	Type TaskEventType `json:"type"`
	Time time.Time     `json:"time"`
}

// Store is the metadata store. Methods that take an org only see that org's
// rows. Unknown ids give ErrNotFound. Writes that fail change nothing.
type Store interface {
	// CreatePipeline inserts p, its job and the job's initial status
	// (Created, run 0) in one transaction. IDs and times are set by the
	// caller. When maxRunning > 0 and p is not a preview, it fails with
	// *LimitError if the org already has maxRunning running jobs.
	CreatePipeline(ctx context.Context, p Pipeline, maxRunning int) error
	GetPipeline(ctx context.Context, org, id string) (Pipeline, error)
	// ListPipelines lists non-preview pipelines, newest first. hasMore
	// reports whether another page follows.
	ListPipelines(ctx context.Context, org string, page Page) (ps []Pipeline, hasMore bool, err error)
	// UpdateJobConfig applies patch to the pipeline's job. Setting Stop to
	// none is a start: with maxRunning > 0 it fails with *LimitError when
	// the org's other running jobs already reach the limit.
	UpdateJobConfig(ctx context.Context, org, pipelineID string, patch ConfigPatch, maxRunning int) (Pipeline, error)
	// RequestRestart bumps the job's restart nonce and sets its restart
	// mode; the same limit rule as a start applies.
	RequestRestart(ctx context.Context, org, pipelineID string, mode RestartMode, maxRunning int) (Pipeline, error)
	// DeletePipeline removes a pipeline and everything of its job;
	// ErrNotTerminal unless the job is Stopped, Finished or Failed.
	DeletePipeline(ctx context.Context, org, id string) error

	// ListJobs lists the org's jobs newest first: those of pipelineID, or
	// every non-preview job when pipelineID is "".
	ListJobs(ctx context.Context, org, pipelineID string) ([]Job, error)
	// GetJob finds a job by pipeline and job id together.
	GetJob(ctx context.Context, org, pipelineID, jobID string) (Job, error)

	AddLogMessage(ctx context.Context, m LogMessage) error
	// ListLogMessages lists a job's messages at level, newest first.
	ListLogMessages(ctx context.Context, org, jobID string, level LogLevel, page Page) (ms []LogMessage, hasMore bool, err error)

	// PutCheckpoint inserts or replaces the record of (job, epoch).
	PutCheckpoint(ctx context.Context, c Checkpoint) error
	// ListCheckpoints lists a job's checkpoints that are neither failed nor
	// compacted, oldest epoch first.
	ListCheckpoints(ctx context.Context, org, jobID string) ([]Checkpoint, error)
	GetCheckpoint(ctx context.Context, org, jobID string, epoch int64) (Checkpoint, error)

	// AllPipelines returns every pipeline of every org with its job,
	// previews included; the controller converges on it.
	AllPipelines(ctx context.Context) ([]Pipeline, error)
	// UpdateJobStatus replaces a job's status.
	UpdateJobStatus(ctx context.Context, jobID string, st JobStatus) error
	// DeleteTerminalPreviews removes preview pipelines whose job is
	// terminal and that were created before cutoff; returns how many.
	DeleteTerminalPreviews(ctx context.Context, cutoff time.Time) (int, error)

	Close() error
}
