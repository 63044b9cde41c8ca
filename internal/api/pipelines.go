package api

import (
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/runnel-dev/runnel/internal/engine"
	"github.com/runnel-dev/runnel/internal/lifecycle"
	"github.com/runnel-dev/runnel/internal/store"
)

// Checkpoint interval bounds and the interval a preview runs with (it never
// lives long enough to need one).
const (
	minCheckpointInterval     = time.Second
	maxCheckpointInterval     = 24 * time.Hour
	previewCheckpointInterval = 24 * time.Hour
	defaultPageLimit          = 10
)

// errNoPlanner answers requests that need SQL planning when none is
// configured (an API process without a compiler).
var errNoPlanner = &apiError{Status: http.StatusServiceUnavailable, Message: "compiler-service not available"}

// org is the organisation of every request until authentication lands.
func org(*http.Request) string { return store.DefaultOrg }

func (s *server) ping(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, "Pong")
}

func (s *server) listConnectors(w http.ResponseWriter, _ *http.Request) error {
	cs := s.cfg.Connectors()
	if cs == nil {
		cs = []Connector{}
	}
	writeJSON(w, http.StatusOK, Collection[Connector]{Data: cs})
	return nil
}

func (u UDF) check(i int) error {
	switch u.Language {
	case "", "rust", "python":
		return nil
	}
	return errUnprocessable("udfs[%d].language: unknown variant `%s`, expected `python` or `rust`", i, u.Language)
}

func normUDFs(in []UDF) ([]store.UDF, error) {
	out := make([]store.UDF, 0, len(in))
	for i, u := range in {
		if err := u.check(i); err != nil {
			return nil, err
		}
		lang := u.Language
		if lang == "" {
			lang = "rust"
		}
		out = append(out, store.UDF{Definition: u.Definition, Language: lang})
	}
	return out, nil
}

// plan compiles a query, turning the user's mistakes into the 400 Arroyo
// clients expect.
func (s *server) plan(r *http.Request, query string, opts PlanOptions) (Program, error) {
	if s.cfg.Planner == nil {
		return nil, errNoPlanner
	}
	prog, err := s.cfg.Planner(r.Context(), query, opts)
	if err != nil {
		var pe *PlanError
		if errors.As(err, &pe) {
			var b strings.Builder
			b.WriteString("Failed to plan query:")
			for _, d := range pe.Diagnostics {
				b.WriteString("\n * ")
				b.WriteString(d.Message)
			}
			return nil, errBadRequest("%s", b.String())
		}
		return nil, fmt.Errorf("planning query: %w", err)
	}
	return prog, nil
}

// checkLimits applies the organisation's size caps to a planned graph.
func (s *server) checkLimits(parallelism int, g engine.GraphView) error {
	l := s.cfg.Limits
	if l.MaxParallelism > 0 && parallelism > l.MaxParallelism {
		return errBadRequest("Your plan allows you to run pipelines up to parallelism %d (the organisation's max_parallelism limit)", l.MaxParallelism)
	}
	if l.MaxOperators > 0 && len(g.Nodes) > l.MaxOperators {
		return errBadRequest("This pipeline is too large to create under your plan, which only allows pipelines up to %d nodes (the organisation's max_operators limit)", l.MaxOperators)
	}
	return nil
}

// limitError renders a store *LimitError naming the limit.
func limitError(le *store.LimitError) *apiError {
	return errBadRequest("You have exceeded the maximum number of running jobs in your plan (max_running_jobs = %d). Stop an existing job first", le.Max)
}

func parallelismOf(v uint64) (int, error) {
	if v < 1 {
		return 0, errBadRequest("Field parallelism must be at least 1")
	}
	if v > math.MaxInt32 {
		return 0, errBadRequest("Field parallelism must be at most %d", math.MaxInt32)
	}
	return int(v), nil
}

func intervalOf(micros uint64) (time.Duration, bool) {
	if micros < uint64(minCheckpointInterval.Microseconds()) || micros > uint64(maxCheckpointInterval.Microseconds()) {
		return 0, false
	}
	return time.Duration(micros) * time.Microsecond, true
}

func (s *server) createPipeline(w http.ResponseWriter, r *http.Request) error {
	var req PipelinePost
	if err := s.decodeBody(w, r, &req); err != nil {
		return err
	}
	parallelism, err := parallelismOf(req.Parallelism)
	if err != nil {
		return err
	}
	udfs, err := normUDFs(req.UDFs)
	if err != nil {
		return err
	}
	prog, err := s.plan(r, req.Query, PlanOptions{Parallelism: parallelism})
	if err != nil {
		return err
	}
	graph := prog.View()
	if err := s.checkLimits(parallelism, graph); err != nil {
		return err
	}
	if req.Name == "" {
		return errBadRequest("Field name must be set")
	}
	interval := s.cfg.DefaultCheckpointInterval
	if req.CheckpointIntervalMicros != nil {
		var ok bool
		if interval, ok = intervalOf(*req.CheckpointIntervalMicros); !ok {
			return errBadRequest("Checkpoint_interval_micros must be between 1 second and 1 day.")
		}
	}
	p, err := s.newPipeline(s.now(), req.Name, req.Query, udfs, parallelism, graph, interval, 0)
	if err != nil {
		return err
	}
	return s.insertAndRespond(w, r, p)
}

func (s *server) createPreview(w http.ResponseWriter, r *http.Request) error {
	var req PreviewPost
	if err := s.decodeBody(w, r, &req); err != nil {
		return err
	}
	udfs, err := normUDFs(req.UDFs)
	if err != nil {
		return err
	}
	prog, err := s.plan(r, req.Query, PlanOptions{Parallelism: 1, Preview: true, EnableSinks: req.EnableSinks})
	if err != nil {
		return err
	}
	graph := prog.View()
	if err := s.checkLimits(1, graph); err != nil {
		return err
	}
	now := s.now()
	name := "preview_" + strconv.FormatInt(now.UnixMilli(), 10)
	p, err := s.newPipeline(now, name, req.Query, udfs, 1, graph, previewCheckpointInterval, s.cfg.PreviewTTL)
	if err != nil {
		return err
	}
	p.Preview = true
	p.EnableSinks = req.EnableSinks
	return s.insertAndRespond(w, r, p)
}

func (s *server) newPipeline(now time.Time, name, query string, udfs []store.UDF, parallelism int, graph engine.GraphView, interval, ttl time.Duration) (store.Pipeline, error) {
	graphJSON, err := marshalGraph(graph)
	if err != nil {
		return store.Pipeline{}, err
	}
	pid := store.NewID("pl")
	return store.Pipeline{
		OrgID:       store.DefaultOrg,
		ID:          pid,
		Name:        name,
		Query:       query,
		UDFs:        udfs,
		Preview:     ttl > 0,
		Parallelism: parallelism,
		Graph:       graphJSON,
		CreatedAt:   now,
		Job: store.Job{
			OrgID:      store.DefaultOrg,
			ID:         store.NewID("job"),
			PipelineID: pid,
			CreatedAt:  now,
			Config: store.JobConfig{
				Stop:               lifecycle.StopNone,
				CheckpointInterval: interval,
				RestartMode:        store.RestartSafe,
				TTL:                ttl,
				UpdatedAt:          now,
			},
			Status: store.JobStatus{State: lifecycle.Created, UpdatedAt: now},
		},
	}, nil
}

func (s *server) insertAndRespond(w http.ResponseWriter, r *http.Request, p store.Pipeline) error {
	if err := s.cfg.Store.CreatePipeline(r.Context(), p, s.cfg.Limits.MaxRunningJobs); err != nil {
		var le *store.LimitError
		switch {
		case errors.As(err, &le):
			return limitError(le)
		case errors.Is(err, store.ErrDuplicate):
			return errBadRequest("A record already exists with that name or id")
		}
		return fmt.Errorf("creating pipeline: %w", err)
	}
	// Re-read so the response shows exactly what was stored.
	return s.respondPipeline(w, r, p.ID)
}

func (s *server) respondPipeline(w http.ResponseWriter, r *http.Request, id string) error {
	p, err := s.cfg.Store.GetPipeline(r.Context(), org(r), id)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return errNotFound("Pipeline")
		}
		return fmt.Errorf("reading pipeline %s: %w", id, err)
	}
	return writePipeline(w, p)
}

func writePipeline(w http.ResponseWriter, p store.Pipeline) error {
	out, err := pipelineOut(p)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *server) validateQuery(w http.ResponseWriter, r *http.Request) error {
	var req ValidateQueryPost
	if err := s.decodeBody(w, r, &req); err != nil {
		return err
	}
	if _, err := normUDFs(req.UDFs); err != nil {
		return err
	}
	if s.cfg.Planner == nil {
		return errNoPlanner
	}
	prog, err := s.cfg.Planner(r.Context(), req.Query, PlanOptions{Parallelism: 1})
	if err != nil {
		var pe *PlanError
		if !errors.As(err, &pe) {
			return fmt.Errorf("validating query: %w", err)
		}
		res := QueryValidationResult{Errors: make([]SQLDiagnostic, 0, len(pe.Diagnostics))}
		for _, d := range pe.Diagnostics {
			res.Errors = append(res.Errors, SQLDiagnostic(d))
		}
		if len(res.Errors) == 0 {
			res.Errors = append(res.Errors, SQLDiagnostic{Message: pe.Error()})
		}
		writeJSON(w, http.StatusOK, res)
		return nil
	}
	g := normGraph(prog.View())
	writeJSON(w, http.StatusOK, QueryValidationResult{Graph: &g, Errors: []SQLDiagnostic{}})
	return nil
}

// page reads starting_after and limit.
func page(r *http.Request) (store.Page, error) {
	q := r.URL.Query()
	p := store.Page{StartingAfter: q.Get("starting_after"), Limit: defaultPageLimit}
	if v, ok := q["limit"]; ok && len(v) > 0 {
		n, err := strconv.ParseUint(v[0], 10, 32)
		if err != nil {
			return store.Page{}, errBadRequest("Failed to deserialize query string: limit: expected an integer from 1 to %d, got %q", uint32(math.MaxUint32), v[0])
		}
		if n == 0 {
			return store.Page{}, errBadRequest("Limit must be greater than 0")
		}
		p.Limit = int(n)
	}
	return p, nil
}

func (s *server) listPipelines(w http.ResponseWriter, r *http.Request) error {
	pg, err := page(r)
	if err != nil {
		return err
	}
	ps, more, err := s.cfg.Store.ListPipelines(r.Context(), org(r), pg)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			// An unknown cursor has nothing after it.
			ps, more = nil, false
		} else {
			return fmt.Errorf("listing pipelines: %w", err)
		}
	}
	out := PaginatedCollection[Pipeline]{Data: make([]Pipeline, 0, len(ps)), HasMore: more}
	for _, p := range ps {
		po, err := pipelineOut(p)
		if err != nil {
			return err
		}
		out.Data = append(out.Data, po)
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *server) getPipeline(w http.ResponseWriter, r *http.Request) error {
	return s.respondPipeline(w, r, chi.URLParam(r, "id"))
}

func (s *server) loadPipeline(r *http.Request) (store.Pipeline, error) {
	id := chi.URLParam(r, "id")
	p, err := s.cfg.Store.GetPipeline(r.Context(), org(r), id)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return store.Pipeline{}, errNotFound("Pipeline")
		}
		return store.Pipeline{}, fmt.Errorf("reading pipeline %s: %w", id, err)
	}
	return p, nil
}

func (s *server) patchPipeline(w http.ResponseWriter, r *http.Request) error {
	var req PipelinePatch
	if err := s.decodeBody(w, r, &req); err != nil {
		return err
	}
	var patch store.ConfigPatch
	if req.Stop != nil {
		m, err := lifecycle.ParseStopMode(*req.Stop)
		if err != nil {
			return errUnprocessable("stop: %v", err)
		}
		patch.Stop = &m
	}
	if req.CheckpointIntervalMicros != nil {
		d, ok := intervalOf(*req.CheckpointIntervalMicros)
		if !ok {
			return errBadRequest("checkpoint_interval_micros must be between 1 second and 1 day")
		}
		patch.CheckpointInterval = &d
	}
	p, err := s.loadPipeline(r)
	if err != nil {
		return err
	}
	if req.Parallelism != nil {
		n, err := parallelismOf(*req.Parallelism)
		if err != nil {
			return err
		}
		g, err := graphOut(p.Graph, nil)
		if err != nil {
			return fmt.Errorf("pipeline %s: %w", p.ID, err)
		}
		if err := s.checkLimits(n, engine.GraphView{}); err != nil {
			return err
		}
		// Every node gets the override, as in Arroyo: rescaling is
		// uniform.
		patch.ParallelismOverrides = make(map[int]int, len(g.Nodes))
		for _, node := range g.Nodes {
			patch.ParallelismOverrides[node.NodeID] = n
		}
	}
	updated, err := s.cfg.Store.UpdateJobConfig(r.Context(), org(r), p.ID, patch, s.cfg.Limits.MaxRunningJobs)
	if err != nil {
		var le *store.LimitError
		switch {
		case errors.As(err, &le):
			return limitError(le)
		case errors.Is(err, store.ErrNotFound):
			return errNotFound("Job")
		}
		return fmt.Errorf("updating job of pipeline %s: %w", p.ID, err)
	}
	return writePipeline(w, updated)
}

func (s *server) restartPipeline(w http.ResponseWriter, r *http.Request) error {
	var req PipelineRestart
	if err := s.decodeBody(w, r, &req); err != nil {
		return err
	}
	if req.IgnoreState != nil && *req.IgnoreState {
		// Restarting without state needs a fresh job id and a new
		// checkpoint lineage, which the store does not model yet.
		return errBadRequest("ignore_state is not supported")
	}
	mode := store.RestartSafe
	if req.Force != nil && *req.Force {
		mode = store.RestartForce
	}
	id := chi.URLParam(r, "id")
	p, err := s.cfg.Store.RequestRestart(r.Context(), org(r), id, mode, s.cfg.Limits.MaxRunningJobs)
	if err != nil {
		var le *store.LimitError
		switch {
		case errors.As(err, &le):
			return limitError(le)
		case errors.Is(err, store.ErrNotFound):
			return errNotFound("Pipeline")
		}
		return fmt.Errorf("restarting pipeline %s: %w", id, err)
	}
	return writePipeline(w, p)
}

func (s *server) deletePipeline(w http.ResponseWriter, r *http.Request) error {
	id := chi.URLParam(r, "id")
	if err := s.cfg.Store.DeletePipeline(r.Context(), org(r), id); err != nil {
		switch {
		case errors.Is(err, store.ErrNotTerminal):
			return errBadRequest("Pipeline's jobs must be in a terminal state (stopped, finished, or failed) before it can be deleted")
		case errors.Is(err, store.ErrNotFound):
			return errNotFound("Pipeline")
		}
		return fmt.Errorf("deleting pipeline %s: %w", id, err)
	}
	w.WriteHeader(http.StatusOK)
	return nil
}
