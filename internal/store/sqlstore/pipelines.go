package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/runnel-dev/runnel/internal/lifecycle"
	"github.com/runnel-dev/runnel/internal/store"
)

// jobCols selects a job with its config and status (aliases j and s).
const jobCols = `j.org_id, j.id, j.pipeline_id, j.created_at,
	j.stop, j.checkpoint_interval_micros, j.parallelism_overrides, j.restart_nonce, j.restart_mode, j.ttl_micros, j.updated_at,
	s.state, s.run_id, s.start_time, s.finish_time, s.tasks, s.failure_message, s.failure_domain, s.restarts, s.restart_nonce, s.updated_at`

// pipelineSelect selects pipelines (alias p) with their single job.
const pipelineSelect = `SELECT p.org_id, p.id, p.name, p.query, p.udfs, p.preview, p.enable_sinks, p.parallelism, p.graph, p.created_at, ` + jobCols + `
	FROM pipelines p
	JOIN jobs j ON j.pipeline_id = p.id
	JOIN job_statuses s ON s.job_id = j.id`

// runningCount counts the org's jobs that hold a running slot: not a
// preview, desired running, and not Failed or Finished (a Stopped job that
// is asked to run is starting, so it counts). The second argument excludes
// one job id ("" excludes nothing).
const runningCount = `SELECT COUNT(*)
	FROM jobs j
	JOIN pipelines p ON p.id = j.pipeline_id
	JOIN job_statuses s ON s.job_id = j.id
	WHERE j.org_id = ? AND j.id <> ? AND NOT p.preview
	AND j.stop = 'none' AND s.state NOT IN ('Failed', 'Finished')`

type scanner interface{ Scan(dest ...any) error }

// scanJob scans a row of jobCols. extra are destinations for columns that
// come before them (the pipeline's, in pipelineSelect).
func scanJob(sc scanner, extra ...any) (store.Job, error) {
	var (
		j                            store.Job
		stop, mode, state            string
		intervalUS                   int64
		overrides, failMsg, failDom  sql.NullString
		ttl, start, finish, tasks    sql.NullInt64
		createdUS, cfgUpdUS, stUpdUS int64
		restarts                     int
	)
	dest := append(extra,
		&j.OrgID, &j.ID, &j.PipelineID, &createdUS,
		&stop, &intervalUS, &overrides, &j.Config.RestartNonce, &mode, &ttl, &cfgUpdUS,
		&state, &j.Status.RunID, &start, &finish, &tasks, &failMsg, &failDom, &restarts, &j.Status.RestartNonce, &stUpdUS,
	)
	if err := sc.Scan(dest...); err != nil {
		return store.Job{}, err
	}
	j.CreatedAt = fromMicros(createdUS)
	j.Config.Stop = lifecycle.StopMode(stop)
	j.Config.CheckpointInterval = time.Duration(intervalUS) * time.Microsecond
	if err := decodeJSON("parallelism_overrides", overrides, &j.Config.ParallelismOverrides); err != nil {
		return store.Job{}, err
	}
	if len(j.Config.ParallelismOverrides) == 0 {
		j.Config.ParallelismOverrides = nil
	}
	j.Config.RestartMode = store.RestartMode(mode)
	if ttl.Valid {
		j.Config.TTL = time.Duration(ttl.Int64) * time.Microsecond
	}
	j.Config.UpdatedAt = fromMicros(cfgUpdUS)
	// Read leniently: a state written by a newer controller is shown, not
	// rejected (lifecycle.ActionFor copes with unknown states).
	j.Status.State = lifecycle.State(state)
	j.Status.StartTime = timePtr(start)
	j.Status.FinishTime = timePtr(finish)
	j.Status.Tasks = intPtr(tasks)
	if failMsg.Valid {
		j.Status.Failure = &store.Failure{Error: failMsg.String, Domain: store.ErrorDomain(failDom.String)}
	}
	j.Status.Restarts = restarts
	j.Status.UpdatedAt = fromMicros(stUpdUS)
	return j, nil
}

func scanPipeline(sc scanner) (store.Pipeline, error) {
	var (
		p         store.Pipeline
		udfs      sql.NullString
		graph     sql.NullString
		createdUS int64
	)
	j, err := scanJob(sc, &p.OrgID, &p.ID, &p.Name, &p.Query, &udfs, &p.Preview, &p.EnableSinks, &p.Parallelism, &graph, &createdUS)
	if err != nil {
		return store.Pipeline{}, err
	}
	if err := decodeJSON("udfs", udfs, &p.UDFs); err != nil {
		return store.Pipeline{}, err
	}
	if graph.Valid {
		p.Graph = []byte(graph.String)
	}
	p.CreatedAt = fromMicros(createdUS)
	p.Job = j
	return p, nil
}

func (s *Store) queryPipelines(ctx context.Context, c conn, query string, args ...any) ([]store.Pipeline, error) {
	rows, err := c.query(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var ps []store.Pipeline
	for rows.Next() {
		p, err := scanPipeline(rows)
		if err != nil {
			return nil, err
		}
		ps = append(ps, p)
	}
	return ps, rows.Err()
}

func (s *Store) getPipeline(ctx context.Context, c conn, org, id string) (store.Pipeline, error) {
	p, err := scanPipeline(c.queryRow(ctx, pipelineSelect+` WHERE p.org_id = ? AND p.id = ?`, org, id))
	if errors.Is(err, sql.ErrNoRows) {
		return store.Pipeline{}, notFound("pipeline", id)
	}
	if err != nil {
		return store.Pipeline{}, s.wrap(err, "%s: get pipeline %q", s.d.Name, id)
	}
	return p, nil
}

// lockOrg serialises the org's limit-checked transactions (see
// Dialect.LockOrg); it must run before anything the check reads.
func (s *Store) lockOrg(ctx context.Context, c conn, org string) error {
	if s.d.LockOrg == "" {
		return nil
	}
	if _, err := c.exec(ctx, s.d.LockOrg, org); err != nil {
		return s.wrap(err, "%s: lock org %q", s.d.Name, org)
	}
	return nil
}

// checkLimit fails with *store.LimitError when the org already has max
// running jobs other than excludeJob. The caller holds lockOrg.
func (s *Store) checkLimit(ctx context.Context, c conn, org, excludeJob string, max int) error {
	var n int
	if err := c.queryRow(ctx, runningCount, org, excludeJob).Scan(&n); err != nil {
		return s.wrap(err, "%s: count running jobs of org %q", s.d.Name, org)
	}
	if n >= max {
		return &store.LimitError{Max: max}
	}
	return nil
}

// CreatePipeline implements store.Store. A job with TTL > 0 makes the
// pipeline a preview even if p.Preview is false (Arroyo: preview iff the job
// has a TTL); empty stop and restart modes default to none and safe; a zero
// job CreatedAt defaults to the pipeline's. p.Job.Status is ignored: a new
// job always starts Created with run 0.
func (s *Store) CreatePipeline(ctx context.Context, p store.Pipeline, maxRunning int) error {
	if p.OrgID == "" || p.ID == "" || p.Job.ID == "" {
		return fmt.Errorf("%s: create pipeline: org, pipeline id and job id must be set", s.d.Name)
	}
	cfg := p.Job.Config
	preview := p.Preview || cfg.TTL > 0
	if cfg.Stop == "" {
		cfg.Stop = lifecycle.StopNone
	}
	if cfg.RestartMode == "" {
		cfg.RestartMode = store.RestartSafe
	}
	jobCreated := p.Job.CreatedAt
	if jobCreated.IsZero() {
		jobCreated = p.CreatedAt
	}
	cfgUpdated := cfg.UpdatedAt
	if cfgUpdated.IsZero() {
		cfgUpdated = jobCreated
	}
	udfs, err := nullJSON(p.UDFs, len(p.UDFs) == 0)
	if err != nil {
		return fmt.Errorf("%s: create pipeline %q: udfs: %w", s.d.Name, p.ID, err)
	}
	overrides, err := nullJSON(cfg.ParallelismOverrides, len(cfg.ParallelismOverrides) == 0)
	if err != nil {
		return fmt.Errorf("%s: create pipeline %q: parallelism overrides: %w", s.d.Name, p.ID, err)
	}
	var ttl sql.NullInt64
	if cfg.TTL > 0 {
		ttl = sql.NullInt64{Int64: cfg.TTL.Microseconds(), Valid: true}
	}

	return s.inTx(ctx, func(c conn) error {
		// Only a job that will run takes a slot; previews never do.
		if maxRunning > 0 && !preview && cfg.Stop == lifecycle.StopNone {
			if err := s.lockOrg(ctx, c, p.OrgID); err != nil {
				return err
			}
			if err := s.checkLimit(ctx, c, p.OrgID, "", maxRunning); err != nil {
				return err
			}
		}
		if _, err := c.exec(ctx, `INSERT INTO pipelines
			(id, org_id, name, query, udfs, preview, enable_sinks, parallelism, graph, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			p.ID, p.OrgID, p.Name, p.Query, udfs, preview, p.EnableSinks, p.Parallelism, bytesOrNull(p.Graph),
			micros(p.CreatedAt), micros(p.CreatedAt)); err != nil {
			return s.wrap(err, "%s: create pipeline %q", s.d.Name, p.ID)
		}
		if _, err := c.exec(ctx, `INSERT INTO jobs
			(id, org_id, pipeline_id, stop, checkpoint_interval_micros, parallelism_overrides, restart_nonce, restart_mode, ttl_micros, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			p.Job.ID, p.OrgID, p.ID, string(cfg.Stop), cfg.CheckpointInterval.Microseconds(), overrides,
			cfg.RestartNonce, string(cfg.RestartMode), ttl, micros(jobCreated), micros(cfgUpdated)); err != nil {
			return s.wrap(err, "%s: create job %q of pipeline %q", s.d.Name, p.Job.ID, p.ID)
		}
		// state, run_id, restarts and restart_nonce take their column
		// defaults (Created, 0, 0, 0).
		if _, err := c.exec(ctx, `INSERT INTO job_statuses (job_id, org_id, updated_at) VALUES (?, ?, ?)`,
			p.Job.ID, p.OrgID, micros(jobCreated)); err != nil {
			return s.wrap(err, "%s: create status of job %q", s.d.Name, p.Job.ID)
		}
		return nil
	})
}

// GetPipeline implements store.Store.
func (s *Store) GetPipeline(ctx context.Context, org, id string) (store.Pipeline, error) {
	return s.getPipeline(ctx, s.reader(), org, id)
}

// ListPipelines implements store.Store. Page.Limit <= 0 means
// DefaultPageLimit.
func (s *Store) ListPipelines(ctx context.Context, org string, page store.Page) ([]store.Pipeline, bool, error) {
	c := s.reader()
	limit := pageLimit(page)
	where := `p.org_id = ? AND NOT p.preview`
	args := []any{org}
	if page.StartingAfter != "" {
		var at int64
		err := c.queryRow(ctx, `SELECT created_at FROM pipelines WHERE org_id = ? AND id = ? AND NOT preview`,
			org, page.StartingAfter).Scan(&at)
		if errors.Is(err, sql.ErrNoRows) {
			return nil, false, notFound("pipeline (starting_after)", page.StartingAfter)
		}
		if err != nil {
			return nil, false, s.wrap(err, "%s: list pipelines: cursor", s.d.Name)
		}
		where += ` AND (p.created_at < ? OR (p.created_at = ? AND p.id < ?))`
		args = append(args, at, at, page.StartingAfter)
	}
	args = append(args, limit+1)
	ps, err := s.queryPipelines(ctx, c, pipelineSelect+` WHERE `+where+` ORDER BY p.created_at DESC, p.id DESC LIMIT ?`, args...)
	if err != nil {
		return nil, false, s.wrap(err, "%s: list pipelines", s.d.Name)
	}
	ps, more := trimPage(ps, limit)
	return ps, more, nil
}

// AllPipelines implements store.Store, oldest first.
func (s *Store) AllPipelines(ctx context.Context) ([]store.Pipeline, error) {
	ps, err := s.queryPipelines(ctx, s.reader(), pipelineSelect+` ORDER BY p.created_at, p.id`)
	if err != nil {
		return nil, s.wrap(err, "%s: all pipelines", s.d.Name)
	}
	return ps, nil
}

// jobRef is what the limit rules need to know about a pipeline's job.
type jobRef struct {
	id      string
	stop    lifecycle.StopMode
	state   lifecycle.State
	preview bool
}

// counted reports whether the job holds a running slot (see runningCount).
func (r jobRef) counted() bool {
	return !r.preview && r.stop == lifecycle.StopNone && r.state != lifecycle.Failed && r.state != lifecycle.Finished
}

func (s *Store) jobOf(ctx context.Context, c conn, org, pipelineID string) (jobRef, error) {
	var r jobRef
	var stop, state string
	err := c.queryRow(ctx, `SELECT j.id, j.stop, s.state, p.preview
		FROM pipelines p
		JOIN jobs j ON j.pipeline_id = p.id
		JOIN job_statuses s ON s.job_id = j.id
		WHERE p.org_id = ? AND p.id = ?`, org, pipelineID).Scan(&r.id, &stop, &state, &r.preview)
	if errors.Is(err, sql.ErrNoRows) {
		return jobRef{}, notFound("pipeline", pipelineID)
	}
	if err != nil {
		return jobRef{}, s.wrap(err, "%s: find job of pipeline %q", s.d.Name, pipelineID)
	}
	r.stop, r.state = lifecycle.StopMode(stop), lifecycle.State(state)
	return r, nil
}

// UpdateJobConfig implements store.Store. An empty non-nil
// ParallelismOverrides clears the overrides.
func (s *Store) UpdateJobConfig(ctx context.Context, org, pipelineID string, patch store.ConfigPatch, maxRunning int) (store.Pipeline, error) {
	set := []string{"updated_at = ?"}
	args := []any{micros(s.now())}
	if patch.Stop != nil {
		set = append(set, "stop = ?")
		args = append(args, string(*patch.Stop))
	}
	if patch.CheckpointInterval != nil {
		set = append(set, "checkpoint_interval_micros = ?")
		args = append(args, patch.CheckpointInterval.Microseconds())
	}
	if patch.ParallelismOverrides != nil {
		o, err := nullJSON(patch.ParallelismOverrides, len(patch.ParallelismOverrides) == 0)
		if err != nil {
			return store.Pipeline{}, fmt.Errorf("%s: update pipeline %q: parallelism overrides: %w", s.d.Name, pipelineID, err)
		}
		set = append(set, "parallelism_overrides = ?")
		args = append(args, o)
	}
	var out store.Pipeline
	err := s.inTx(ctx, func(c conn) error {
		starting := maxRunning > 0 && patch.Stop != nil && *patch.Stop == lifecycle.StopNone
		if starting {
			// Lock before reading the job so that the check and the
			// write see the same world as every other start of the org.
			if err := s.lockOrg(ctx, c, org); err != nil {
				return err
			}
		}
		ref, err := s.jobOf(ctx, c, org, pipelineID)
		if err != nil {
			return err
		}
		// A job that already holds a slot keeps it; only a start of one
		// that does not is checked, against the org's other jobs.
		if starting && !ref.preview && !ref.counted() {
			if err := s.checkLimit(ctx, c, org, ref.id, maxRunning); err != nil {
				return err
			}
		}
		if _, err := c.exec(ctx, `UPDATE jobs SET `+strings.Join(set, ", ")+` WHERE id = ?`, append(args, ref.id)...); err != nil {
			return s.wrap(err, "%s: update job %q", s.d.Name, ref.id)
		}
		out, err = s.getPipeline(ctx, c, org, pipelineID)
		return err
	})
	return out, err
}

// RequestRestart implements store.Store. An empty mode means safe.
func (s *Store) RequestRestart(ctx context.Context, org, pipelineID string, mode store.RestartMode, maxRunning int) (store.Pipeline, error) {
	if mode == "" {
		mode = store.RestartSafe
	}
	var out store.Pipeline
	err := s.inTx(ctx, func(c conn) error {
		if maxRunning > 0 {
			if err := s.lockOrg(ctx, c, org); err != nil {
				return err
			}
		}
		ref, err := s.jobOf(ctx, c, org, pipelineID)
		if err != nil {
			return err
		}
		// A restart brings a job that does not hold a slot (Failed,
		// Finished) back to running if it is meant to run.
		if maxRunning > 0 && !ref.preview && ref.stop == lifecycle.StopNone && !ref.counted() {
			if err := s.checkLimit(ctx, c, org, ref.id, maxRunning); err != nil {
				return err
			}
		}
		if _, err := c.exec(ctx, `UPDATE jobs SET restart_nonce = restart_nonce + 1, restart_mode = ?, updated_at = ? WHERE id = ?`,
			string(mode), micros(s.now()), ref.id); err != nil {
			return s.wrap(err, "%s: restart job %q", s.d.Name, ref.id)
		}
		out, err = s.getPipeline(ctx, c, org, pipelineID)
		return err
	})
	return out, err
}

// DeletePipeline implements store.Store.
func (s *Store) DeletePipeline(ctx context.Context, org, id string) error {
	return s.inTx(ctx, func(c conn) error {
		if err := s.pipelineExists(ctx, c, org, id); err != nil {
			return err
		}
		var busy int
		if err := c.queryRow(ctx, `SELECT COUNT(*) FROM jobs j JOIN job_statuses s ON s.job_id = j.id
			WHERE j.pipeline_id = ? AND s.state NOT IN ('Stopped', 'Finished', 'Failed')`, id).Scan(&busy); err != nil {
			return s.wrap(err, "%s: delete pipeline %q: job states", s.d.Name, id)
		}
		if busy > 0 {
			return fmt.Errorf("pipeline %q: %w", id, store.ErrNotTerminal)
		}
		// Jobs, statuses, log messages and checkpoints go by cascade.
		if _, err := c.exec(ctx, `DELETE FROM pipelines WHERE org_id = ? AND id = ?`, org, id); err != nil {
			return s.wrap(err, "%s: delete pipeline %q", s.d.Name, id)
		}
		return nil
	})
}

// DeleteTerminalPreviews implements store.Store.
func (s *Store) DeleteTerminalPreviews(ctx context.Context, cutoff time.Time) (int, error) {
	res, err := conn{q: s.w, d: &s.d}.exec(ctx, `DELETE FROM pipelines
		WHERE preview AND created_at < ? AND id IN (
			SELECT j.pipeline_id FROM jobs j JOIN job_statuses s ON s.job_id = j.id
			WHERE s.state IN ('Stopped', 'Finished', 'Failed'))`, micros(cutoff))
	if err != nil {
		return 0, s.wrap(err, "%s: delete terminal previews", s.d.Name)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, s.wrap(err, "%s: delete terminal previews: rows affected", s.d.Name)
	}
	return int(n), nil
}

func pageLimit(p store.Page) int {
	if p.Limit <= 0 {
		return DefaultPageLimit
	}
	return p.Limit
}

// trimPage drops the extra row fetched to learn whether more follow.
func trimPage[T any](items []T, limit int) ([]T, bool) {
	if len(items) > limit {
		return items[:limit], true
	}
	return items, false
}
