package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/runnel-dev/runnel/internal/store"
)

// AddLogMessage implements store.Store. The job must belong to m.OrgID. An
// empty m.ID is filled with a new jlm_ id.
func (s *Store) AddLogMessage(ctx context.Context, m store.LogMessage) error {
	if m.ID == "" {
		m.ID = store.NewID("jlm")
	}
	var dom sql.NullString
	if m.Domain != nil {
		dom = sql.NullString{String: string(*m.Domain), Valid: true}
	}
	return s.inTx(ctx, func(c conn) error {
		if err := s.jobExists(ctx, c, m.OrgID, m.JobID); err != nil {
			return err
		}
		if _, err := c.exec(ctx, `INSERT INTO job_log_messages
			(id, org_id, job_id, operator_id, task_index, created_at, level, message, details, error_domain)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			m.ID, m.OrgID, m.JobID, nullString(m.OperatorID), nullInt(m.TaskIndex), micros(m.CreatedAt),
			string(m.Level), m.Message, m.Details, dom); err != nil {
			return s.wrap(err, "%s: add log message to job %q", s.d.Name, m.JobID)
		}
		return nil
	})
}

// ListLogMessages implements store.Store. An empty level lists every level.
// Page.Limit <= 0 means DefaultPageLimit.
func (s *Store) ListLogMessages(ctx context.Context, org, jobID string, level store.LogLevel, page store.Page) ([]store.LogMessage, bool, error) {
	c := s.reader()
	if err := s.jobExists(ctx, c, org, jobID); err != nil {
		return nil, false, err
	}
	limit := pageLimit(page)
	where := `org_id = ? AND job_id = ?`
	args := []any{org, jobID}
	if level != "" {
		where += ` AND level = ?`
		args = append(args, string(level))
	}
	if page.StartingAfter != "" {
		var at int64
		err := c.queryRow(ctx, `SELECT created_at FROM job_log_messages WHERE org_id = ? AND job_id = ? AND id = ?`,
			org, jobID, page.StartingAfter).Scan(&at)
		if errors.Is(err, sql.ErrNoRows) {
			return nil, false, notFound("log message (starting_after)", page.StartingAfter)
		}
		if err != nil {
			return nil, false, s.wrap(err, "%s: list log messages: cursor", s.d.Name)
		}
		where += ` AND (created_at < ? OR (created_at = ? AND id < ?))`
		args = append(args, at, at, page.StartingAfter)
	}
	args = append(args, limit+1)
	rows, err := c.query(ctx, `SELECT org_id, id, job_id, created_at, operator_id, task_index, level, message, details, error_domain
		FROM job_log_messages WHERE `+where+` ORDER BY created_at DESC, id DESC LIMIT ?`, args...)
	if err != nil {
		return nil, false, s.wrap(err, "%s: list log messages of job %q", s.d.Name, jobID)
	}
	defer rows.Close()
	var ms []store.LogMessage
	for rows.Next() {
		var (
			m         store.LogMessage
			createdUS int64
			op, dom   sql.NullString
			task      sql.NullInt64
			lvl       string
		)
		if err := rows.Scan(&m.OrgID, &m.ID, &m.JobID, &createdUS, &op, &task, &lvl, &m.Message, &m.Details, &dom); err != nil {
			return nil, false, fmt.Errorf("%s: list log messages of job %q: %w", s.d.Name, jobID, err)
		}
		m.CreatedAt = fromMicros(createdUS)
		m.OperatorID = stringPtr(op)
		m.TaskIndex = intPtr(task)
		m.Level = store.LogLevel(lvl)
		if dom.Valid {
			d := store.ErrorDomain(dom.String)
			m.Domain = &d
		}
		ms = append(ms, m)
	}
	if err := rows.Err(); err != nil {
		return nil, false, s.wrap(err, "%s: list log messages of job %q", s.d.Name, jobID)
	}
	ms, more := trimPage(ms, limit)
	return ms, more, nil
}
