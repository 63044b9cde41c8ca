package api

import (
	"net/http"
	"slices"

	"github.com/runnel-dev/runnel/internal/metrics"
)

const (
	apiPrefix   = "/api/v1"
	openAPIPath = "/api-docs/openapi.json"
)

// route is one API operation. The same table registers the handlers and
// generates the OpenAPI document, so the two cannot disagree.
type route struct {
	Method  string
	Path    string // chi pattern below /api/v1; {name} segments are path params
	ID      string // OpenAPI operationId
	Summary string
	Handler http.HandlerFunc
	// Request is a zero value of the JSON body type, nil when none.
	Request any
	// Response is a zero value of the success body type; nil with SSE
	// false means an empty body.
	Response any
	// SSE marks a text/event-stream response.
	SSE bool
	// Paginated adds the starting_after and limit query parameters.
	Paginated bool
	// Errors lists the error statuses the operation can answer with.
	Errors []int
}

func (s *server) routes() []route {
	const (
		bad         = http.StatusBadRequest
		notFound    = http.StatusNotFound
		tooLarge    = http.StatusRequestEntityTooLarge
		mediaType   = http.StatusUnsupportedMediaType
		shape       = http.StatusUnprocessableEntity
		internal    = http.StatusInternalServerError
		unavailable = http.StatusServiceUnavailable
	)
	body := []int{bad, tooLarge, mediaType, shape, internal}
	planned := append(slices.Clone(body), unavailable)
	return []route{
		{Method: http.MethodGet, Path: "/ping", ID: "ping", Summary: "Liveness check",
			Handler: s.ping, Response: "", Errors: []int{internal}},
		{Method: http.MethodGet, Path: openAPIPath, ID: "openapi", Summary: "This API's OpenAPI 3 document",
			Handler: s.serveDoc, Response: map[string]any{}, Errors: []int{internal}},
		{Method: http.MethodGet, Path: "/connectors", ID: "get_connectors", Summary: "List connectors",
			Handler: s.wrap(s.listConnectors), Response: Collection[Connector]{}, Errors: []int{internal}},
		{Method: http.MethodPost, Path: "/pipelines", ID: "create_pipeline", Summary: "Create a pipeline and its job",
			Handler: s.wrap(s.createPipeline), Request: PipelinePost{}, Response: Pipeline{}, Errors: planned},
		{Method: http.MethodPost, Path: "/pipelines/preview", ID: "create_preview_pipeline", Summary: "Create a preview pipeline",
			Handler: s.wrap(s.createPreview), Request: PreviewPost{}, Response: Pipeline{}, Errors: planned},
		{Method: http.MethodPost, Path: "/pipelines/validate_query", ID: "validate_query", Summary: "Compile a query without creating anything",
			Handler: s.wrap(s.validateQuery), Request: ValidateQueryPost{}, Response: QueryValidationResult{}, Errors: planned},
		{Method: http.MethodGet, Path: "/pipelines", ID: "get_pipelines", Summary: "List pipelines, newest first",
			Handler: s.wrap(s.listPipelines), Response: PaginatedCollection[Pipeline]{}, Paginated: true, Errors: []int{bad, internal}},
		{Method: http.MethodGet, Path: "/pipelines/{id}", ID: "get_pipeline", Summary: "Get a pipeline",
			Handler: s.wrap(s.getPipeline), Response: Pipeline{}, Errors: []int{notFound, internal}},
		{Method: http.MethodPatch, Path: "/pipelines/{id}", ID: "patch_pipeline", Summary: "Start, stop, rescale or reconfigure a pipeline",
			Handler: s.wrap(s.patchPipeline), Request: PipelinePatch{}, Response: Pipeline{}, Errors: append([]int{notFound}, body...)},
		{Method: http.MethodDelete, Path: "/pipelines/{id}", ID: "delete_pipeline", Summary: "Delete a pipeline whose job is terminal",
			Handler: s.wrap(s.deletePipeline), Errors: []int{bad, notFound, internal}},
		{Method: http.MethodPost, Path: "/pipelines/{id}/restart", ID: "restart_pipeline", Summary: "Restart a pipeline's job",
			Handler: s.wrap(s.restartPipeline), Request: PipelineRestart{}, Response: Pipeline{}, Errors: append([]int{notFound}, body...)},
		{Method: http.MethodGet, Path: "/pipelines/{id}/jobs", ID: "get_pipeline_jobs", Summary: "List a pipeline's jobs",
			Handler: s.wrap(s.listPipelineJobs), Response: Collection[Job]{}, Errors: []int{notFound, internal}},
		{Method: http.MethodGet, Path: "/pipelines/{id}/jobs/{job_id}/errors", ID: "get_job_errors", Summary: "List a job's error messages, newest first",
			Handler: s.wrap(s.listJobErrors), Response: PaginatedCollection[JobLogMessage]{}, Paginated: true, Errors: []int{bad, notFound, internal}},
		{Method: http.MethodGet, Path: "/pipelines/{id}/jobs/{job_id}/checkpoints", ID: "get_job_checkpoints", Summary: "List a job's checkpoints, oldest first",
			Handler: s.wrap(s.listCheckpoints), Response: Collection[Checkpoint]{}, Errors: []int{notFound, internal}},
		{Method: http.MethodGet, Path: "/pipelines/{id}/jobs/{job_id}/checkpoints/{epoch}/operator_checkpoint_groups", ID: "get_checkpoint_details", Summary: "Per-operator detail of one checkpoint",
			Handler: s.wrap(s.checkpointDetails), Response: Collection[OperatorCheckpointGroup]{}, Errors: []int{bad, notFound, internal}},
		{Method: http.MethodGet, Path: "/pipelines/{id}/jobs/{job_id}/operator_metric_groups", ID: "get_operator_metric_groups", Summary: "Live metrics of a job's operators",
			Handler: s.wrap(s.metricGroups), Response: Collection[metrics.OperatorGroup]{}, Errors: []int{notFound, internal}},
		{Method: http.MethodGet, Path: "/pipelines/{id}/jobs/{job_id}/output", ID: "get_job_output", Summary: "Server-sent events of a preview job's output",
			Handler: s.wrap(s.streamOutput), SSE: true, Errors: []int{bad, notFound, internal, unavailable}},
		{Method: http.MethodGet, Path: "/jobs", ID: "get_jobs", Summary: "List the organisation's jobs, newest first",
			Handler: s.wrap(s.listJobs), Response: Collection[Job]{}, Errors: []int{internal}},
	}
}

func (s *server) serveDoc(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(s.doc)
}
