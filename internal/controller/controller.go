// Package controller drives every job towards the state its pipeline asks
// for. The API only writes desired state (stop mode, restart nonce,
// parallelism) to the store; the controller polls it, runs one state
// machine per job and writes the actual state back.
package controller

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/runnel-dev/runnel/internal/engine"
	"github.com/runnel-dev/runnel/internal/lifecycle"
	"github.com/runnel-dev/runnel/internal/metrics"
	"github.com/runnel-dev/runnel/internal/output"
	"github.com/runnel-dev/runnel/internal/store"
)

// Config configures a Controller. Zero durations take the defaults named on
// each field, which match Arroyo's.
type Config struct {
	Store  store.Store
	Runner engine.Runner
	Hub    *output.Hub
	Logger *slog.Logger

	PollInterval     time.Duration // how often desired state is re-read; 500ms
	PreviewRetention time.Duration // terminal previews are deleted after; 1h
	AllowedRestarts  int           // recoveries before a job fails; 20; -1 unlimited
	InitialBackoff   time.Duration // first recovery backoff; 500ms
	MaxBackoff       time.Duration // backoff ceiling; 1m
	HealthyDuration  time.Duration // Running this long resets restarts; 2m
	StopTimeout      time.Duration // graceful stop escalates after; 60s
	MetricsInterval  time.Duration // metrics sampling period; 2s
	// Checkpoints is where jobs' state goes; nil runs jobs without
	// checkpoints.
	Checkpoints         CheckpointStorage
	CheckpointTimeout   time.Duration // an epoch not done by then fails; 2m
	CheckpointRetention int           // completed epochs kept per job; 3
	// OnTransition, if set, is told of every state change once it is
	// stored (for observers such as tests and event streams).
	OnTransition func(jobID string, from, to lifecycle.State)

	// failIn makes the handler of that state fail, as an internal error
	// would; tests use it to drive the error path of every state.
	failIn lifecycle.State
	Now    func() time.Time
}

func (c *Config) setDefaults() {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&c.PollInterval, 500*time.Millisecond)
	def(&c.PreviewRetention, time.Hour)
	def(&c.InitialBackoff, 500*time.Millisecond)
	def(&c.MaxBackoff, time.Minute)
	def(&c.HealthyDuration, 2*time.Minute)
	def(&c.StopTimeout, 60*time.Second)
	def(&c.MetricsInterval, 2*time.Second)
	def(&c.CheckpointTimeout, 2*time.Minute)
	if c.CheckpointRetention <= 0 {
		c.CheckpointRetention = 3
	}
	if c.AllowedRestarts == 0 {
		c.AllowedRestarts = 20
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

// Controller runs the job state machines.
type Controller struct {
	cfg Config
	log *slog.Logger

	nudge chan struct{} // capacity 1: a pending request to sync now

	mu       sync.Mutex
	machines map[string]*machine // by job id
	// exited holds, per job whose machine has ended, when it last wrote
	// the job's status: a listing older than that is stale and must not
	// start the job again.
	exited map[string]time.Time
	wg     sync.WaitGroup
}

// New checks cfg and returns a controller; Run starts it.
func New(cfg Config) (*Controller, error) {
	if cfg.Store == nil || cfg.Runner == nil || cfg.Hub == nil {
		return nil, errors.New("controller: store, runner and output hub are required")
	}
	cfg.setDefaults()
	return &Controller{cfg: cfg, log: cfg.Logger.With("component", "controller"), machines: make(map[string]*machine), exited: make(map[string]time.Time), nudge: make(chan struct{}, 1)}, nil
}

// Run converges jobs on their desired state until ctx ends. Then it stops
// every execution and returns once all machines have exited; job states
// stay as they were so that the next controller resumes them.
func (c *Controller) Run(ctx context.Context) error {
	c.log.Info("controller started", "poll_interval", c.cfg.PollInterval)
	tick := time.NewTicker(c.cfg.PollInterval)
	defer tick.Stop()
	var lastCleanup time.Time
	for {
		if err := c.sync(ctx); err != nil && ctx.Err() == nil {
			c.log.Error("reading desired state", "err", err)
		}
		if now := c.cfg.Now(); now.Sub(lastCleanup) >= 5*time.Second || lastCleanup.IsZero() {
			lastCleanup = now
			if n, err := c.cfg.Store.DeleteTerminalPreviews(ctx, now.Add(-c.cfg.PreviewRetention)); err != nil && ctx.Err() == nil {
				c.log.Error("deleting old previews", "err", err)
			} else if n > 0 {
				c.log.Info("deleted old preview pipelines", "count", n)
			}
		}
		select {
		case <-ctx.Done():
			c.wg.Wait()
			c.log.Info("controller stopped")
			return nil
		case <-tick.C:
		case <-c.nudge:
		}
	}
}

// Nudge asks the controller to re-read desired state now rather than at
// its next poll. Writers in the same process call it after changing a job's
// config so that a new pipeline starts in milliseconds; it never blocks.
func (c *Controller) Nudge() {
	select {
	case c.nudge <- struct{}{}:
	default:
	}
}

// sync hands every job's latest config to its machine, starting machines for
// jobs that have work to do and cancelling those whose job was deleted.
func (c *Controller) sync(ctx context.Context) error {
	ps, err := c.cfg.Store.AllPipelines(ctx)
	if err != nil {
		return fmt.Errorf("listing pipelines: %w", err)
	}
	seen := make(map[string]bool, len(ps))
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, p := range ps {
		seen[p.Job.ID] = true
		if m, ok := c.machines[p.Job.ID]; ok {
			m.update(p)
			continue
		}
		if settled(p) || ctx.Err() != nil {
			continue
		}
		if last, ok := c.exited[p.Job.ID]; ok && p.Job.Status.UpdatedAt.Before(last) {
			// Read before its machine's last write: the machine has just
			// finished with this job, and the next listing will say how.
			continue
		}
		m := newMachine(c, p)
		mctx, cancel := context.WithCancel(ctx)
		m.cancel = cancel
		c.machines[p.Job.ID] = m
		c.wg.Add(1)
		go func() {
			defer c.wg.Done()
			defer cancel()
			m.run(mctx)
			c.mu.Lock()
			if c.machines[m.jobID] == m {
				delete(c.machines, m.jobID)
				c.exited[m.jobID] = m.lastPersisted
			}
			c.mu.Unlock()
		}()
	}
	for id, m := range c.machines {
		if !seen[id] {
			m.cancel()
		}
	}
	for id := range c.exited {
		if !seen[id] {
			delete(c.exited, id) // deleted jobs
		}
	}
	return nil
}

// settled reports whether a job needs no machine: it rests in a terminal
// state that its desired state agrees with.
func settled(p store.Pipeline) bool {
	cfg, st := p.Job.Config, p.Job.Status
	switch st.State {
	case lifecycle.Finished:
		return true
	case lifecycle.Stopped:
		return cfg.Stop != lifecycle.StopNone || p.Preview
	case lifecycle.Failed:
		return cfg.RestartNonce == st.RestartNonce
	}
	return false
}

func (c *Controller) machine(jobID string) *machine {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.machines[jobID]
}

// SubscribeOutput attaches a reader to a running job's preview output.
func (c *Controller) SubscribeOutput(_ context.Context, jobID string) (output.Stream, error) {
	m := c.machine(jobID)
	// The API has already checked that the job exists; here only whether it
	// runs matters.
	if m == nil || m.state() != lifecycle.Running {
		return nil, output.ErrNotRunning
	}
	s, err := c.cfg.Hub.Subscribe(jobID)
	if err != nil {
		return nil, output.ErrNotRunning
	}
	return s, nil
}

// JobMetrics returns the rolling per-operator metrics of a job the
// controller is running; empty when it runs nothing for that job.
func (c *Controller) JobMetrics(_ context.Context, jobID string) ([]metrics.OperatorGroup, error) {
	m := c.machine(jobID)
	if m == nil {
		return []metrics.OperatorGroup{}, nil
	}
	return m.metrics.groups(), nil
}

// TaskCounters returns, for every job the controller runs, its subtasks'
// latest counter snapshot (taken at the metrics interval, so exporting them
// never disturbs the rates the API serves).
func (c *Controller) TaskCounters() map[string][]metrics.TaskCounters {
	c.mu.Lock()
	ms := make([]*machine, 0, len(c.machines))
	for _, m := range c.machines {
		ms = append(ms, m)
	}
	c.mu.Unlock()
	out := make(map[string][]metrics.TaskCounters, len(ms))
	for _, m := range ms {
		if cs := m.metrics.latest(); len(cs) > 0 {
			out[m.jobID] = cs
		}
	}
	return out
}

// JobStates counts the jobs the controller is driving, by state.
func (c *Controller) JobStates() map[lifecycle.State]int {
	c.mu.Lock()
	ms := make([]*machine, 0, len(c.machines))
	for _, m := range c.machines {
		ms = append(ms, m)
	}
	c.mu.Unlock()
	out := make(map[lifecycle.State]int)
	for _, m := range ms {
		out[m.state()]++
	}
	return out
}

// State returns the state the controller's machine for a job is in, and
// whether it has one (for tests and diagnostics).
func (c *Controller) State(jobID string) (lifecycle.State, bool) {
	m := c.machine(jobID)
	if m == nil {
		return "", false
	}
	return m.state(), true
}
