package controller

import (
	"context"
	"errors"
	"maps"

	"github.com/runnel-dev/runnel/internal/engine"
	"github.com/runnel-dev/runnel/internal/lifecycle"
	"github.com/runnel-dev/runnel/internal/sql"
	"github.com/runnel-dev/runnel/internal/store"
)

// Created: the controller has just picked the job up.
func created(context.Context, *machine) (lifecycle.State, error) {
	return lifecycle.Compiling, nil
}

// Compiling plans the pipeline's SQL into a dataflow program. The API
// planned it once already to validate it; planning again here keeps the
// store free of engine internals and picks up planner fixes on restart.
func compiling(_ context.Context, m *machine) (lifecycle.State, error) {
	p := m.latest()
	prog, err := sql.Plan(p.Query, sql.Options{Parallelism: p.Parallelism, Preview: p.Preview, EnableSinks: p.EnableSinks})
	if err != nil {
		var planErr *sql.Error
		if errors.As(err, &planErr) {
			return m.fail(store.DomainUser, "Failed to plan query: "+err.Error()), nil
		}
		return m.fail(store.DomainInternal, "Failed to plan query: "+err.Error()), nil
	}
	m.program = prog
	return lifecycle.Scheduling, nil
}

// Scheduling starts the program's subtasks, with the desired parallelism.
func scheduling(ctx context.Context, m *machine) (lifecycle.State, error) {
	p := m.latest()
	m.setStatus(func(s *store.JobStatus) { s.RunID++ })
	if next := m.stopTarget(p.Job.Config.Stop, false); next != "" {
		return next, nil
	}
	if m.program == nil {
		// Reached from Rescaling or Restarting after a controller restart
		// cannot happen (those resume at Compiling), but be safe.
		return lifecycle.Compiling, errors.New("scheduling without a compiled program")
	}
	prog := m.program
	if ov := p.Job.Config.ParallelismOverrides; len(ov) > 0 {
		var err error
		if prog, err = prog.WithParallelism(ov); err != nil {
			return m.fail(store.DomainUser, "invalid parallelism: "+err.Error()), nil
		}
	}
	opts := engine.RunOptions{JobID: m.jobID, RunID: m.snapshot().RunID, Logger: m.log, Plan: engine.PlanSource{
		Query: p.Query, Parallelism: p.Parallelism, Preview: p.Preview, EnableSinks: p.EnableSinks,
		Overrides: p.Job.Config.ParallelismOverrides,
	}}
	m.reports, m.cp = nil, nil
	if m.checkpointing() {
		restore, last, err := m.restorePoint(ctx)
		if err != nil {
			m.recoverWhy = err.Error()
			return lifecycle.Recovering, nil
		}
		m.lastEpoch = max(m.lastEpoch, last)
		opts.Checkpoints = m.runCheckpoints(restore)
		if restore > 0 {
			m.log.Info("restoring from checkpoint", "epoch", restore)
		}
	}
	if prog.HasPreviewSink() {
		opts.Output = m.c.cfg.Hub.Open(m.jobID)
	}
	exec, err := m.c.cfg.Runner.Start(ctx, prog, opts)
	if err != nil {
		if opts.Output != nil {
			m.c.cfg.Hub.Close(m.jobID)
		}
		var re *engine.RestoreError
		if errors.As(err, &re) {
			m.markRestoreFailed(ctx, re)
		}
		m.recoverWhy = "starting tasks: " + err.Error()
		return lifecycle.Recovering, nil
	}
	m.exec = exec
	if next := m.stopTarget(m.latest().Job.Config.Stop, false); next != "" {
		// Stopped while the tasks were starting.
		m.teardown(stopImmediate)
		return next, nil
	}
	m.parallelism = maps.Clone(p.Job.Config.ParallelismOverrides)
	m.metrics.reset()
	now := m.now()
	m.runningAt = now
	m.lastCheckpointAt = now
	tasks := exec.Tasks()
	m.setStatus(func(s *store.JobStatus) {
		s.Tasks = &tasks
		if s.StartTime == nil || s.FinishTime != nil {
			// A fresh start, not a recovery: the job's uptime starts now.
			s.StartTime = &now
			s.FinishTime = nil
		}
	})
	return lifecycle.Running, nil
}
