package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"net/http"
	"strconv"
)

// ListOptions selects a page of a newest-first list.
type ListOptions struct {
	// StartingAfter is the id of the last item of the previous page.
	StartingAfter string
	// Limit is the page size; 0 means the server's default (10).
	Limit int
}

// Ping checks that the API answers.
func (c *Client) Ping(ctx context.Context) error {
	var pong string
	if err := c.do(ctx, request{method: http.MethodGet, segments: []string{"ping"}, out: &pong}); err != nil {
		return err
	}
	if pong != "Pong" {
		return fmt.Errorf("ping: unexpected answer %q", pong)
	}
	return nil
}

// OpenAPI returns the API's OpenAPI 3 document.
func (c *Client) OpenAPI(ctx context.Context) (json.RawMessage, error) {
	var doc json.RawMessage
	err := c.do(ctx, request{method: http.MethodGet, segments: []string{"api-docs", "openapi.json"}, out: &doc})
	return doc, err
}

// ListConnectors lists the connectors the server offers.
func (c *Client) ListConnectors(ctx context.Context) ([]Connector, error) {
	var out collection[Connector]
	err := c.do(ctx, request{method: http.MethodGet, segments: []string{"connectors"}, out: &out})
	return out.Data, err
}

// CreatePipeline plans the query and creates a pipeline and its job, which
// starts at once. SQL that does not plan gives a 400 *APIError whose
// message lists the problems; ValidateQuery returns them with positions.
func (c *Client) CreatePipeline(ctx context.Context, p PipelinePost) (*Pipeline, error) {
	var out Pipeline
	if err := c.do(ctx, request{method: http.MethodPost, segments: []string{"pipelines"}, body: p, out: &out}); err != nil {
		return nil, err
	}
	return &out, nil
}

// CreatePreview creates a preview pipeline: parallelism 1, a short time to
// live, its output streamed to OpenOutput instead of its sinks.
func (c *Client) CreatePreview(ctx context.Context, p PreviewPost) (*Pipeline, error) {
	var out Pipeline
	if err := c.do(ctx, request{method: http.MethodPost, segments: []string{"pipelines", "preview"}, body: p, out: &out}); err != nil {
		return nil, err
	}
	return &out, nil
}

// ValidateQuery plans a query without creating anything. A query with
// problems is not an error: they are in the result's Errors.
func (c *Client) ValidateQuery(ctx context.Context, q ValidateQueryPost) (*QueryValidationResult, error) {
	var out QueryValidationResult
	if err := c.do(ctx, request{method: http.MethodPost, segments: []string{"pipelines", "validate_query"}, body: q, out: &out}); err != nil {
		return nil, err
	}
	return &out, nil
}

// ListPipelines returns one page of pipelines, newest first. Previews are
// not listed.
func (c *Client) ListPipelines(ctx context.Context, opts *ListOptions) (Page[Pipeline], error) {
	var out Page[Pipeline]
	err := c.do(ctx, request{method: http.MethodGet, segments: []string{"pipelines"}, query: pageQuery(opts), out: &out})
	return out, err
}

// Pipelines iterates over every pipeline, newest first, fetching pages as
// it goes; opts sets the page size and where to start. After an error it
// yields nothing more.
func (c *Client) Pipelines(ctx context.Context, opts *ListOptions) iter.Seq2[Pipeline, error] {
	return paginate(opts, func(o *ListOptions) (Page[Pipeline], error) { return c.ListPipelines(ctx, o) },
		func(p Pipeline) string { return p.ID })
}

// GetPipeline returns one pipeline (previews included).
func (c *Client) GetPipeline(ctx context.Context, id string) (*Pipeline, error) {
	var out Pipeline
	if err := c.do(ctx, request{method: http.MethodGet, segments: []string{"pipelines", id}, out: &out}); err != nil {
		return nil, err
	}
	return &out, nil
}

// PatchPipeline changes a pipeline's desired state: stop or start it,
// rescale it, or change its checkpoint interval. The controller acts on
// the change shortly after; use WaitForState to see it done.
func (c *Client) PatchPipeline(ctx context.Context, id string, patch PipelinePatch) (*Pipeline, error) {
	var out Pipeline
	if err := c.do(ctx, request{method: http.MethodPatch, segments: []string{"pipelines", id}, body: patch, out: &out}); err != nil {
		return nil, err
	}
	return &out, nil
}

// StopPipeline asks the pipeline's job to stop in the given mode.
func (c *Client) StopPipeline(ctx context.Context, id string, mode StopMode) (*Pipeline, error) {
	return c.PatchPipeline(ctx, id, PipelinePatch{Stop: &mode})
}

// StartPipeline asks a stopped pipeline's job to run again, from its last
// checkpoint. A Failed job is started with RestartPipeline instead.
func (c *Client) StartPipeline(ctx context.Context, id string) (*Pipeline, error) {
	mode := StopNone
	return c.PatchPipeline(ctx, id, PipelinePatch{Stop: &mode})
}

// RescalePipeline sets every node's parallelism.
func (c *Client) RescalePipeline(ctx context.Context, id string, parallelism int) (*Pipeline, error) {
	if parallelism < 1 {
		return nil, errors.New("parallelism must be at least 1")
	}
	n := uint64(parallelism)
	return c.PatchPipeline(ctx, id, PipelinePatch{Parallelism: &n})
}

// RestartPipeline restarts the pipeline's job: a running job is drained
// (or, with Force, cancelled) and scheduled again; a Failed one starts
// again.
func (c *Client) RestartPipeline(ctx context.Context, id string, r PipelineRestart) (*Pipeline, error) {
	var out Pipeline
	if err := c.do(ctx, request{method: http.MethodPost, segments: []string{"pipelines", id, "restart"}, body: r, out: &out}); err != nil {
		return nil, err
	}
	return &out, nil
}

// DeletePipeline deletes a pipeline whose job is Stopped, Finished or
// Failed.
func (c *Client) DeletePipeline(ctx context.Context, id string) error {
	return c.do(ctx, request{method: http.MethodDelete, segments: []string{"pipelines", id}})
}

// ListPipelineJobs lists a pipeline's jobs, newest first.
func (c *Client) ListPipelineJobs(ctx context.Context, pipelineID string) ([]Job, error) {
	var out collection[Job]
	err := c.do(ctx, request{method: http.MethodGet, segments: []string{"pipelines", pipelineID, "jobs"}, out: &out})
	return out.Data, err
}

// CurrentJob returns a pipeline's current (newest) job.
func (c *Client) CurrentJob(ctx context.Context, pipelineID string) (*Job, error) {
	jobs, err := c.ListPipelineJobs(ctx, pipelineID)
	if err != nil {
		return nil, err
	}
	if len(jobs) == 0 {
		return nil, fmt.Errorf("pipeline %s has no job", pipelineID)
	}
	return &jobs[0], nil
}

// ListJobs lists every job of the organisation, newest first; jobs of
// previews are not listed.
func (c *Client) ListJobs(ctx context.Context) ([]Job, error) {
	var out collection[Job]
	err := c.do(ctx, request{method: http.MethodGet, segments: []string{"jobs"}, out: &out})
	return out.Data, err
}

// ListJobErrors returns one page of a job's error messages, newest first.
func (c *Client) ListJobErrors(ctx context.Context, pipelineID, jobID string, opts *ListOptions) (Page[JobLogMessage], error) {
	var out Page[JobLogMessage]
	err := c.do(ctx, request{method: http.MethodGet, segments: []string{"pipelines", pipelineID, "jobs", jobID, "errors"},
		query: pageQuery(opts), out: &out})
	return out, err
}

// JobErrors iterates over every error message of a job, newest first.
func (c *Client) JobErrors(ctx context.Context, pipelineID, jobID string, opts *ListOptions) iter.Seq2[JobLogMessage, error] {
	return paginate(opts, func(o *ListOptions) (Page[JobLogMessage], error) {
		return c.ListJobErrors(ctx, pipelineID, jobID, o)
	}, func(m JobLogMessage) string { return m.ID })
}

// ListCheckpoints lists a job's checkpoints, oldest epoch first.
func (c *Client) ListCheckpoints(ctx context.Context, pipelineID, jobID string) ([]Checkpoint, error) {
	var out collection[Checkpoint]
	err := c.do(ctx, request{method: http.MethodGet, segments: []string{"pipelines", pipelineID, "jobs", jobID, "checkpoints"}, out: &out})
	return out.Data, err
}

// CheckpointDetails returns the per-operator, per-subtask detail of one
// checkpoint epoch, sorted by operator id and subtask index.
func (c *Client) CheckpointDetails(ctx context.Context, pipelineID, jobID string, epoch int64) ([]OperatorCheckpointGroup, error) {
	var out collection[OperatorCheckpointGroup]
	err := c.do(ctx, request{method: http.MethodGet,
		segments: []string{"pipelines", pipelineID, "jobs", jobID, "checkpoints", strconv.FormatInt(epoch, 10), "operator_checkpoint_groups"},
		out:      &out})
	return out.Data, err
}

// OperatorMetricGroups returns the live metrics of a job's nodes, sorted
// by node id; empty until the job has run for a moment.
func (c *Client) OperatorMetricGroups(ctx context.Context, pipelineID, jobID string) ([]OperatorMetricGroup, error) {
	var out collection[OperatorMetricGroup]
	err := c.do(ctx, request{method: http.MethodGet, segments: []string{"pipelines", pipelineID, "jobs", jobID, "operator_metric_groups"}, out: &out})
	return out.Data, err
}

// paginate walks a newest-first list page by page.
func paginate[T any](opts *ListOptions, fetch func(*ListOptions) (Page[T], error), id func(T) string) iter.Seq2[T, error] {
	return func(yield func(T, error) bool) {
		o := ListOptions{}
		if opts != nil {
			o = *opts
		}
		for {
			page, err := fetch(&o)
			if err != nil {
				var zero T
				yield(zero, err)
				return
			}
			for _, item := range page.Data {
				if !yield(item, nil) {
					return
				}
			}
			if !page.HasMore || len(page.Data) == 0 {
				return
			}
			o.StartingAfter = id(page.Data[len(page.Data)-1])
		}
	}
}
