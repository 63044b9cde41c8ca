package controller

import (
	"context"

	"github.com/runnel-dev/runnel/internal/lifecycle"
	"github.com/runnel-dev/runnel/internal/store"
)

// CheckpointStopping takes a final checkpoint and stops; starting the job
// again resumes from it. If the checkpoint fails the job still stops, and
// resumes from the last completed one (sinks never published what came
// after it). A force stop (immediate or force) overrides it at any time.
// Jobs without checkpoints (previews) drain instead.
func checkpointStopping(ctx context.Context, m *machine) (lifecycle.State, error) {
	if m.checkpointing() {
		next, ok := m.finalCheckpoint(ctx)
		if next != "" {
			return next, nil
		}
		if ctx.Err() != nil {
			return "", ctx.Err()
		}
		if !ok {
			m.log.Warn("stopping without a final checkpoint; the job will resume from the last completed one")
		}
		m.teardown(stopImmediate)
		m.markStopped()
		return lifecycle.Stopped, nil
	}
	if next := m.drain(ctx, stopGraceful); next != "" {
		return next, nil
	}
	if ctx.Err() != nil {
		return "", ctx.Err()
	}
	m.markStopped()
	return lifecycle.Stopped, nil
}

// Stopping ends the execution the way the stop mode asked.
func stopping(ctx context.Context, m *machine) (lifecycle.State, error) {
	m.teardown(m.stop)
	if ctx.Err() != nil {
		return "", ctx.Err()
	}
	m.markStopped()
	return lifecycle.Stopped, nil
}

func (m *machine) markStopped() {
	now := m.now()
	m.setStatus(func(s *store.JobStatus) { s.FinishTime = &now })
}

// Stopped: a start request (stop back to none) compiles the job again;
// otherwise the machine rests.
func stopped(_ context.Context, m *machine) (lifecycle.State, error) {
	m.teardown(stopImmediate)
	p := m.latest()
	if p.Job.Config.Stop == lifecycle.StopNone && !p.Preview {
		return lifecycle.Compiling, nil
	}
	return "", nil
}

// Finishing: every source is exhausted and the data has drained.
func finishing(ctx context.Context, m *machine) (lifecycle.State, error) {
	m.teardown(stopGraceful)
	if ctx.Err() != nil {
		return "", ctx.Err()
	}
	m.markStopped()
	return lifecycle.Finished, nil
}

// Finished is final.
func finished(_ context.Context, m *machine) (lifecycle.State, error) {
	m.teardown(stopImmediate)
	return "", nil
}

// Failing tears the execution down and records the failure.
func failing(ctx context.Context, m *machine) (lifecycle.State, error) {
	m.teardown(stopImmediate)
	if ctx.Err() != nil {
		return "", ctx.Err()
	}
	st := m.snapshot()
	msg, domain := "job failed", store.DomainInternal
	details := ""
	if st.Failure != nil {
		details, domain = st.Failure.Error, st.Failure.Domain
	}
	m.logMessage(ctx, store.LevelError, nil, nil, msg, details, &domain)
	m.markStopped()
	return lifecycle.Failed, nil
}

// Failed: a restart request (a new restart nonce) starts the job afresh.
func failed(_ context.Context, m *machine) (lifecycle.State, error) {
	m.teardown(stopImmediate)
	p := m.latest()
	if p.Job.Config.RestartNonce == m.snapshot().RestartNonce {
		return "", nil
	}
	m.setStatus(func(s *store.JobStatus) {
		s.RestartNonce = p.Job.Config.RestartNonce
		s.Restarts = 0
		s.Failure = nil
	})
	return lifecycle.Compiling, nil
}
