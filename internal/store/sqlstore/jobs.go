package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/runnel-dev/runnel/internal/lifecycle"
	"github.com/runnel-dev/runnel/internal/store"
)

const jobSelect = `SELECT ` + jobCols + `
	FROM jobs j
	JOIN pipelines p ON p.id = j.pipeline_id
	JOIN job_statuses s ON s.job_id = j.id`

// ListJobs implements store.Store.
func (s *Store) ListJobs(ctx context.Context, org, pipelineID string) ([]store.Job, error) {
	c := s.reader()
	where := `j.org_id = ? AND NOT p.preview`
	args := []any{org}
	if pipelineID != "" {
		if err := s.pipelineExists(ctx, c, org, pipelineID); err != nil {
			return nil, err
		}
		where = `j.org_id = ? AND j.pipeline_id = ?`
		args = append(args, pipelineID)
	}
	rows, err := c.query(ctx, jobSelect+` WHERE `+where+` ORDER BY j.created_at DESC, j.id DESC`, args...)
	if err != nil {
		return nil, s.wrap(err, "%s: list jobs", s.d.Name)
	}
	defer rows.Close()
	var js []store.Job
	for rows.Next() {
		j, err := scanJob(rows)
		if err != nil {
			return nil, s.wrap(err, "%s: list jobs", s.d.Name)
		}
		js = append(js, j)
	}
	if err := rows.Err(); err != nil {
		return nil, s.wrap(err, "%s: list jobs", s.d.Name)
	}
	return js, nil
}

// GetJob implements store.Store.
func (s *Store) GetJob(ctx context.Context, org, pipelineID, jobID string) (store.Job, error) {
	j, err := scanJob(s.reader().queryRow(ctx, jobSelect+` WHERE j.org_id = ? AND j.pipeline_id = ? AND j.id = ?`,
		org, pipelineID, jobID))
	if errors.Is(err, sql.ErrNoRows) {
		return store.Job{}, notFound("job", jobID)
	}
	if err != nil {
		return store.Job{}, s.wrap(err, "%s: get job %q", s.d.Name, jobID)
	}
	return j, nil
}

// UpdateJobStatus implements store.Store. The state must be one of
// lifecycle.States ("" means Created); a zero UpdatedAt means now.
func (s *Store) UpdateJobStatus(ctx context.Context, jobID string, st store.JobStatus) error {
	state, err := lifecycle.ParseState(string(st.State))
	if err != nil {
		return fmt.Errorf("%s: update status of job %q: %w", s.d.Name, jobID, err)
	}
	updated := st.UpdatedAt
	if updated.IsZero() {
		updated = s.now()
	}
	var failMsg, failDom sql.NullString
	if st.Failure != nil {
		failMsg = sql.NullString{String: st.Failure.Error, Valid: true}
		if st.Failure.Domain != "" {
			failDom = sql.NullString{String: string(st.Failure.Domain), Valid: true}
		}
	}
	res, err := conn{q: s.w, d: &s.d}.exec(ctx, `UPDATE job_statuses SET
		state = ?, run_id = ?, start_time = ?, finish_time = ?, tasks = ?,
		failure_message = ?, failure_domain = ?, restarts = ?, restart_nonce = ?, updated_at = ?
		WHERE job_id = ?`,
		string(state), st.RunID, nullMicros(st.StartTime), nullMicros(st.FinishTime), nullInt(st.Tasks),
		failMsg, failDom, st.Restarts, st.RestartNonce, micros(updated), jobID)
	if err != nil {
		return s.wrap(err, "%s: update status of job %q", s.d.Name, jobID)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return s.wrap(err, "%s: update status of job %q: rows affected", s.d.Name, jobID)
	}
	if n == 0 {
		return notFound("job", jobID)
	}
	return nil
}

func (s *Store) pipelineExists(ctx context.Context, c conn, org, id string) error {
	var one int
	err := c.queryRow(ctx, `SELECT 1 FROM pipelines WHERE org_id = ? AND id = ?`, org, id).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return notFound("pipeline", id)
	}
	if err != nil {
		return s.wrap(err, "%s: find pipeline %q", s.d.Name, id)
	}
	return nil
}

func (s *Store) jobExists(ctx context.Context, c conn, org, id string) error {
	var one int
	err := c.queryRow(ctx, `SELECT 1 FROM jobs WHERE org_id = ? AND id = ?`, org, id).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return notFound("job", id)
	}
	if err != nil {
		return s.wrap(err, "%s: find job %q", s.d.Name, id)
	}
	return nil
}
