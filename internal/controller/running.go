package controller

import (
	"context"
	"errors"
	"time"

	"github.com/runnel-dev/runnel/internal/engine"
	"github.com/runnel-dev/runnel/internal/lifecycle"
	"github.com/runnel-dev/runnel/internal/store"
)

// Running watches the execution and the desired state until one of them
// asks for a change.
func running(ctx context.Context, m *machine) (lifecycle.State, error) {
	if next := m.onConfig(m.latest()); next != "" {
		return next, nil
	}
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	lastSample := time.Time{}
	for {
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case p := <-m.updates:
			m.p = p
			if next := m.onConfig(p); next != "" {
				return next, nil
			}
		case <-m.exec.Done():
			return m.executionEnded(ctx), nil
		case <-m.reportNotify():
			if _, err := m.pumpCheckpoint(ctx); err != nil {
				m.log.Warn("checkpoint failed", "err", err)
			}
		case <-tick.C:
			now := m.now()
			if m.checkpointing() {
				m.checkCheckpointTimeout(ctx)
				if m.cp == nil && now.Sub(m.lastCheckpointAt) >= m.p.Job.Config.CheckpointInterval && m.p.Job.Config.CheckpointInterval > 0 {
					if err := m.beginCheckpoint(ctx, false); err != nil {
						m.log.Warn("checkpoint not started", "err", err)
					}
				}
			}
			if now.Sub(lastSample) >= m.c.cfg.MetricsInterval {
				lastSample = now
				m.metrics.add(now, m.exec.Metrics())
			}
			st := m.snapshot()
			if ttl := m.p.Job.Config.TTL; ttl > 0 && st.StartTime != nil && now.Sub(*st.StartTime) >= ttl {
				m.log.Info("preview reached its time-to-live", "ttl", ttl)
				m.stop = stopImmediate
				return lifecycle.Stopping, nil
			}
			if st.Restarts > 0 && now.Sub(m.runningAt) >= m.c.cfg.HealthyDuration {
				m.setStatus(func(s *store.JobStatus) { s.Restarts = 0 })
				if err := m.persist(ctx); err != nil {
					return "", err
				}
			}
		}
	}
}

// onConfig decides what a change of desired state means for a running job.
func (m *machine) onConfig(p store.Pipeline) lifecycle.State {
	if next := m.stopTarget(p.Job.Config.Stop, true); next != "" {
		return next
	}
	if p.Job.Config.RestartNonce != m.snapshot().RestartNonce {
		m.setStatus(func(s *store.JobStatus) { s.RestartNonce = p.Job.Config.RestartNonce })
		m.restartMode = p.Job.Config.RestartMode
		return lifecycle.Restarting
	}
	if m.overridesChanged(p) {
		return lifecycle.Rescaling
	}
	return ""
}

// executionEnded classifies how the execution ended on its own.
func (m *machine) executionEnded(ctx context.Context) lifecycle.State {
	exec := m.exec
	m.metrics.add(m.now(), exec.Metrics())
	err := exec.Err()
	if err == nil && exec.Finished() {
		return lifecycle.Finishing
	}
	if err == nil {
		err = errors.New("execution ended unexpectedly")
	}
	var te *engine.TaskError
	var op *string
	var task *int
	if errors.As(err, &te) {
		op, task = &te.OperatorID, &te.Subtask
	}
	domain := store.ErrorDomain(engine.DomainOf(err))
	m.logMessage(ctx, store.LevelError, op, task, "task failed", err.Error(), &domain)
	m.recoverWhy = err.Error()
	if m.p.Job.Config.TTL > 0 {
		// Previews exist to show the user what their query does; retrying
		// would hide the error from them.
		return m.fail(store.DomainUser, "Job encountered a fatal error: "+err.Error())
	}
	return lifecycle.Recovering
}

// Recovering tears the failed execution down and, after a backoff, starts
// over from compilation, unless the job has used up its restarts.
func recovering(ctx context.Context, m *machine) (lifecycle.State, error) {
	m.teardown(stopImmediate)
	m.setStatus(func(s *store.JobStatus) { s.Restarts++ })
	if err := m.persist(ctx); err != nil {
		return "", err
	}
	st := m.snapshot()
	why := m.recoverWhy
	if why == "" {
		why = "unknown failure"
	}
	if m.p.Job.Config.TTL > 0 {
		// Previews exist to show the user what their query does; retrying
		// would hide the error from them.
		return m.fail(store.DomainUser, "Job encountered a fatal error: "+why), nil
	}
	if allowed := m.c.cfg.AllowedRestarts; allowed >= 0 && st.Restarts > allowed {
		return m.fail(store.DomainInternal, "Exhausted retries: "+why), nil
	}
	wait := m.backoff(st.Restarts)
	m.log.Warn("recovering job", "restarts", st.Restarts, "backoff", wait, "reason", why)
	timer := time.NewTimer(wait)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case p := <-m.updates:
			m.p = p
			if next := m.stopTarget(p.Job.Config.Stop, false); next != "" {
				return next, nil
			}
		case <-timer.C:
			return lifecycle.Compiling, nil
		}
	}
}

// reportNotify fires when checkpoint reports are waiting (never without
// checkpointing).
func (m *machine) reportNotify() <-chan struct{} {
	if m.reports == nil {
		return nil
	}
	return m.reports.notify
}

// Restarting stops the execution and schedules it again: a safe restart
// takes a final checkpoint first and resumes from it, a forced one
// cancels the tasks and resumes from the last completed checkpoint.
// Without checkpoints it drains, or cancels when forced.
func restarting(ctx context.Context, m *machine) (lifecycle.State, error) {
	if m.checkpointing() {
		if m.restartMode != store.RestartForce {
			if next, _ := m.finalCheckpoint(ctx); next != "" {
				return next, nil
			}
		}
		m.teardown(stopImmediate)
		return lifecycle.Scheduling, nil
	}
	mode := stopGraceful
	if m.restartMode == store.RestartForce {
		mode = stopForce
	}
	if next := m.drain(ctx, mode); next != "" {
		return next, nil
	}
	return lifecycle.Scheduling, nil
}

// Rescaling stops the execution and schedules it again with the new
// parallelism.
func rescaling(ctx context.Context, m *machine) (lifecycle.State, error) {
	if m.checkpointing() {
		// The final checkpoint carries the keyed state over: the new
		// subtasks each restore the key ranges they now own.
		if next, _ := m.finalCheckpoint(ctx); next != "" {
			return next, nil
		}
		m.teardown(stopImmediate)
		return lifecycle.Scheduling, nil
	}
	if next := m.drain(ctx, stopGraceful); next != "" {
		return next, nil
	}
	return lifecycle.Scheduling, nil
}

// drain stops the execution, waiting for it while still honouring a newer
// stop request; it returns that request's state if one arrives.
func (m *machine) drain(ctx context.Context, mode stopRequest) lifecycle.State {
	if m.exec == nil {
		return ""
	}
	exec := m.exec
	switch mode {
	case stopGraceful:
		exec.Stop(engine.StopGraceful)
	default:
		exec.Stop(engine.StopImmediate)
	}
	timer := time.NewTimer(m.c.cfg.StopTimeout)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return ""
		case <-exec.Done():
			m.teardown(stopImmediate) // already ended; releases output
			return ""
		case p := <-m.updates:
			m.p = p
			stop := p.Job.Config.Stop
			if stop == lifecycle.StopImmediate || stop == lifecycle.StopForce {
				return m.stopTarget(stop, false)
			}
		case <-timer.C:
			m.log.Warn("execution did not drain in time; cancelling")
			m.teardown(stopImmediate)
			return ""
		}
	}
}
