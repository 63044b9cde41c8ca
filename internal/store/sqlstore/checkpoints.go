package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/runnel-dev/runnel/internal/store"
)

const checkpointSelect = `SELECT org_id, id, job_id, epoch, backend, state, is_stopping, start_time, finish_time, event_spans, operators
	FROM checkpoints`

// PutCheckpoint implements store.Store: it inserts the record of (job,
// epoch) or replaces every field of the existing one, its id included. The
// job must belong to c.OrgID. An empty c.ID is filled with a new chk_ id.
// Times inside Events and Operators are stored like the columns: UTC, µs.
func (s *Store) PutCheckpoint(ctx context.Context, c store.Checkpoint) error {
	if c.ID == "" {
		c.ID = store.NewID("chk")
	}
	if c.State == "" {
		c.State = store.CheckpointInProgress
	}
	events, err := nullJSON(normEvents(c.Events), c.Events == nil)
	if err != nil {
		return fmt.Errorf("%s: put checkpoint %d of job %q: events: %w", s.d.Name, c.Epoch, c.JobID, err)
	}
	ops, err := nullJSON(normOperators(c.Operators), c.Operators == nil)
	if err != nil {
		return fmt.Errorf("%s: put checkpoint %d of job %q: operators: %w", s.d.Name, c.Epoch, c.JobID, err)
	}
	return s.inTx(ctx, func(tx conn) error {
		if err := s.jobExists(ctx, tx, c.OrgID, c.JobID); err != nil {
			return err
		}
		if _, err := tx.exec(ctx, `INSERT INTO checkpoints
			(id, org_id, job_id, epoch, backend, state, is_stopping, start_time, finish_time, event_spans, operators)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (job_id, epoch) DO UPDATE SET
				id = excluded.id, backend = excluded.backend, state = excluded.state,
				is_stopping = excluded.is_stopping, start_time = excluded.start_time,
				finish_time = excluded.finish_time, event_spans = excluded.event_spans,
				operators = excluded.operators`,
			c.ID, c.OrgID, c.JobID, c.Epoch, c.Backend, string(c.State), c.Stopping,
			micros(c.StartTime), nullMicros(c.FinishTime), events, ops); err != nil {
			return s.wrap(err, "%s: put checkpoint %d of job %q", s.d.Name, c.Epoch, c.JobID)
		}
		return nil
	})
}

// ListCheckpoints implements store.Store.
func (s *Store) ListCheckpoints(ctx context.Context, org, jobID string) ([]store.Checkpoint, error) {
	c := s.reader()
	if err := s.jobExists(ctx, c, org, jobID); err != nil {
		return nil, err
	}
	rows, err := c.query(ctx, checkpointSelect+` WHERE org_id = ? AND job_id = ? AND state NOT IN (?, ?) ORDER BY epoch`,
		org, jobID, string(store.CheckpointFailed), string(store.CheckpointCompacted))
	if err != nil {
		return nil, s.wrap(err, "%s: list checkpoints of job %q", s.d.Name, jobID)
	}
	defer rows.Close()
	var cs []store.Checkpoint
	for rows.Next() {
		cp, err := scanCheckpoint(rows)
		if err != nil {
			return nil, fmt.Errorf("%s: list checkpoints of job %q: %w", s.d.Name, jobID, err)
		}
		cs = append(cs, cp)
	}
	if err := rows.Err(); err != nil {
		return nil, s.wrap(err, "%s: list checkpoints of job %q", s.d.Name, jobID)
	}
	return cs, nil
}

// GetCheckpoint implements store.Store; it finds checkpoints in any state.
func (s *Store) GetCheckpoint(ctx context.Context, org, jobID string, epoch int64) (store.Checkpoint, error) {
	cp, err := scanCheckpoint(s.reader().queryRow(ctx, checkpointSelect+` WHERE org_id = ? AND job_id = ? AND epoch = ?`,
		org, jobID, epoch))
	if errors.Is(err, sql.ErrNoRows) {
		return store.Checkpoint{}, fmt.Errorf("checkpoint with epoch %d for job %q: %w", epoch, jobID, store.ErrNotFound)
	}
	if err != nil {
		return store.Checkpoint{}, s.wrap(err, "%s: get checkpoint %d of job %q", s.d.Name, epoch, jobID)
	}
	return cp, nil
}

func scanCheckpoint(sc scanner) (store.Checkpoint, error) {
	var (
		c           store.Checkpoint
		state       string
		startUS     int64
		finish      sql.NullInt64
		events, ops sql.NullString
	)
	if err := sc.Scan(&c.OrgID, &c.ID, &c.JobID, &c.Epoch, &c.Backend, &state, &c.Stopping, &startUS, &finish, &events, &ops); err != nil {
		return store.Checkpoint{}, err
	}
	c.State = store.CheckpointState(state)
	c.StartTime = fromMicros(startUS)
	c.FinishTime = timePtr(finish)
	if err := decodeJSON("event_spans", events, &c.Events); err != nil {
		return store.Checkpoint{}, err
	}
	if err := decodeJSON("operators", ops, &c.Operators); err != nil {
		return store.Checkpoint{}, err
	}
	return c, nil
}

// normEvents copies events with their times as the store returns times.
func normEvents(in []store.CheckpointEvent) []store.CheckpointEvent {
	if in == nil {
		return nil
	}
	out := make([]store.CheckpointEvent, len(in))
	for i, e := range in {
		out[i] = store.CheckpointEvent{Event: e.Event, StartTime: normTime(e.StartTime), FinishTime: normTimePtr(e.FinishTime)}
	}
	return out
}

// normOperators deep-copies ops with their times as the store returns times.
func normOperators(in []store.OperatorCheckpoint) []store.OperatorCheckpoint {
	if in == nil {
		return nil
	}
	out := make([]store.OperatorCheckpoint, len(in))
	for i, o := range in {
		n := store.OperatorCheckpoint{
			OperatorID:           o.OperatorID,
			StartTime:            normTime(o.StartTime),
			FinishTime:           normTimePtr(o.FinishTime),
			StartedMetadataWrite: normTimePtr(o.StartedMetadataWrite),
			HasState:             o.HasState,
		}
		if o.Tasks != nil {
			n.Tasks = make([]store.TaskCheckpoint, len(o.Tasks))
			for j, t := range o.Tasks {
				nt := store.TaskCheckpoint{
					SubtaskIndex: t.SubtaskIndex,
					StartTime:    normTime(t.StartTime),
					FinishTime:   normTimePtr(t.FinishTime),
					Bytes:        t.Bytes,
				}
				if t.Events != nil {
					nt.Events = make([]store.TaskEvent, len(t.Events))
					for k, e := range t.Events {
						nt.Events[k] = store.TaskEvent{Type: e.Type, Time: normTime(e.Time)}
					}
				}
				n.Tasks[j] = nt
			}
		}
		out[i] = n
	}
	return out
}
