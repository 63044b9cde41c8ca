package api

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/go-chi/chi/v5"

	"github.com/runnel-dev/runnel/internal/metrics"
	"github.com/runnel-dev/runnel/internal/store"
)

func (s *server) listJobs(w http.ResponseWriter, r *http.Request) error {
	jobs, err := s.cfg.Store.ListJobs(r.Context(), org(r), "")
	if err != nil {
		return fmt.Errorf("listing jobs: %w", err)
	}
	writeJobs(w, jobs)
	return nil
}

func (s *server) listPipelineJobs(w http.ResponseWriter, r *http.Request) error {
	p, err := s.loadPipeline(r)
	if err != nil {
		return err
	}
	jobs, err := s.cfg.Store.ListJobs(r.Context(), org(r), p.ID)
	if err != nil {
		return fmt.Errorf("listing jobs of %s: %w", p.ID, err)
	}
	writeJobs(w, jobs)
	return nil
}

func writeJobs(w http.ResponseWriter, jobs []store.Job) {
	out := Collection[Job]{Data: make([]Job, 0, len(jobs))}
	for _, j := range jobs {
		out.Data = append(out.Data, jobOut(j))
	}
	writeJSON(w, http.StatusOK, out)
}

// loadJob finds a job by its pipeline and id together: a job id under the
// wrong pipeline is as unknown as a made-up one.
func (s *server) loadJob(r *http.Request) (store.Job, error) {
	pid, jid := chi.URLParam(r, "id"), chi.URLParam(r, "job_id")
	j, err := s.cfg.Store.GetJob(r.Context(), org(r), pid, jid)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return store.Job{}, errNotFound("Job")
		}
		return store.Job{}, fmt.Errorf("reading job %s of %s: %w", jid, pid, err)
	}
	return j, nil
}

func (s *server) listJobErrors(w http.ResponseWriter, r *http.Request) error {
	pg, err := page(r)
	if err != nil {
		return err
	}
	j, err := s.loadJob(r)
	if err != nil {
		return err
	}
	ms, more, err := s.cfg.Store.ListLogMessages(r.Context(), org(r), j.ID, store.LevelError, pg)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			ms, more = nil, false // unknown cursor
		} else {
			return fmt.Errorf("listing errors of %s: %w", j.ID, err)
		}
	}
	out := PaginatedCollection[JobLogMessage]{Data: make([]JobLogMessage, 0, len(ms)), HasMore: more}
	for _, m := range ms {
		out.Data = append(out.Data, logMessageOut(m))
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *server) listCheckpoints(w http.ResponseWriter, r *http.Request) error {
	j, err := s.loadJob(r)
	if err != nil {
		return err
	}
	cs, err := s.cfg.Store.ListCheckpoints(r.Context(), org(r), j.ID)
	if err != nil {
		return fmt.Errorf("listing checkpoints of %s: %w", j.ID, err)
	}
	out := Collection[Checkpoint]{Data: make([]Checkpoint, 0, len(cs))}
	for _, c := range cs {
		out.Data = append(out.Data, checkpointOut(c))
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *server) checkpointDetails(w http.ResponseWriter, r *http.Request) error {
	raw := chi.URLParam(r, "epoch")
	epoch, err := strconv.ParseUint(raw, 10, 32)
	if err != nil {
		return errBadRequest("Invalid URL: Cannot parse `epoch` with value `%s` to a non-negative integer", raw)
	}
	j, err := s.loadJob(r)
	if err != nil {
		return err
	}
	c, err := s.cfg.Store.GetCheckpoint(r.Context(), org(r), j.ID, int64(epoch))
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return &apiError{Status: http.StatusNotFound, Message: fmt.Sprintf("Checkpoint with epoch %d for job '%s' not found", epoch, j.ID)}
		}
		return fmt.Errorf("reading checkpoint %d of %s: %w", epoch, j.ID, err)
	}
	writeJSON(w, http.StatusOK, Collection[OperatorCheckpointGroup]{Data: operatorGroupsOut(c.Operators)})
	return nil
}

func (s *server) metricGroups(w http.ResponseWriter, r *http.Request) error {
	j, err := s.loadJob(r)
	if err != nil {
		return err
	}
	var groups []metrics.OperatorGroup
	if s.cfg.Controller != nil {
		groups, err = s.cfg.Controller.JobMetrics(r.Context(), j.ID)
		if err != nil {
			return fmt.Errorf("metrics of %s: %w", j.ID, err)
		}
	}
	writeJSON(w, http.StatusOK, Collection[metrics.OperatorGroup]{Data: metricGroupsOut(groups)})
	return nil
}
