package controller

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/runnel-dev/runnel/internal/engine"
	"github.com/runnel-dev/runnel/internal/lifecycle"
	"github.com/runnel-dev/runnel/internal/store"
)

// handler runs one state. It returns the next state, or "" when the machine
// has nothing more to do.
type handler func(ctx context.Context, m *machine) (lifecycle.State, error)

// handlerFor returns the code that runs state s.
func handlerFor(s lifecycle.State) handler {
	switch s {
	case lifecycle.Created:
		return created
	case lifecycle.Compiling:
		return compiling
	case lifecycle.Scheduling:
		return scheduling
	case lifecycle.Running:
		return running
	case lifecycle.Rescaling:
		return rescaling
	case lifecycle.CheckpointStopping:
		return checkpointStopping
	case lifecycle.Recovering:
		return recovering
	case lifecycle.Restarting:
		return restarting
	case lifecycle.Stopping:
		return stopping
	case lifecycle.Stopped:
		return stopped
	case lifecycle.Finishing:
		return finishing
	case lifecycle.Finished:
		return finished
	case lifecycle.Failing:
		return failing
	case lifecycle.Failed:
		return failed
	}
	return func(context.Context, *machine) (lifecycle.State, error) {
		return "", fmt.Errorf("unknown job state %q", s)
	}
}

// stopRequest is how a pending stop is carried out.
type stopRequest int

const (
	stopGraceful  stopRequest = iota // sources stop, data drains
	stopImmediate                    // tasks are cancelled
	stopForce                        // tasks are cancelled without waiting
)

// machine is one job's state machine. Only its own goroutine touches its
// fields, except those guarded by mu which the API reads.
type machine struct {
	c      *Controller
	jobID  string
	log    *slog.Logger
	cancel context.CancelFunc
	// lastPersisted is the UpdatedAt of the last status written.
	lastPersisted time.Time

	updates chan store.Pipeline // latest desired state; capacity 1, newest wins
	p       store.Pipeline      // desired state as last seen

	mu     sync.Mutex
	status store.JobStatus

	program     *engine.Program
	parallelism map[int]int // overrides the running program was built with
	exec        engine.Execution
	runningAt   time.Time

	stop        stopRequest // how the pending Stopping state stops
	recoverWhy  string      // why the pending Recovering state was entered
	restartMode store.RestartMode
	metrics     *window

	// Checkpoints of the current run.
	reports          *reportBox
	cp               *inflight
	lastEpoch        int64
	lastCheckpointAt time.Time
}

func newMachine(c *Controller, p store.Pipeline) *machine {
	return &machine{
		c:       c,
		jobID:   p.Job.ID,
		log:     c.log.With("job_id", p.Job.ID, "pipeline_id", p.ID),
		updates: make(chan store.Pipeline, 1),
		p:       p,
		status:  p.Job.Status,
		metrics: newWindow(150),
	}
}

// update offers the machine newer desired state without ever blocking the
// controller loop.
func (m *machine) update(p store.Pipeline) {
	for {
		select {
		case m.updates <- p:
			return
		default:
		}
		select {
		case <-m.updates:
		default:
		}
	}
}

// latest applies any pending desired state and returns it.
func (m *machine) latest() store.Pipeline {
	select {
	case p := <-m.updates:
		m.p = p
	default:
	}
	return m.p
}

func (m *machine) state() lifecycle.State {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.status.State
}

func (m *machine) setStatus(f func(*store.JobStatus)) {
	m.mu.Lock()
	defer m.mu.Unlock()
	f(&m.status)
}

func (m *machine) snapshot() store.JobStatus {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.status
}

func (m *machine) now() time.Time { return m.c.cfg.Now().UTC().Truncate(time.Microsecond) }

func (m *machine) run(ctx context.Context) {
	defer m.teardown(stopImmediate)
	st := m.state()
	if st == "" {
		st = lifecycle.Created
	}
	if r := resumeState(st); r != st {
		m.log.Info("resuming job", "persisted_state", st, "state", r)
		now := m.now()
		m.setStatus(func(s *store.JobStatus) {
			s.State = r
			if r.Terminal() && s.FinishTime == nil {
				s.FinishTime = &now
			}
		})
		if err := m.persist(ctx); err != nil {
			return
		}
	}
	for {
		st := m.state()
		next, err := handlerFor(st)(ctx, m)
		if st == m.c.cfg.failIn && st != "" {
			next, err = "", fmt.Errorf("injected failure in %s", st)
		}
		if ctx.Err() != nil {
			// The controller is shutting down or the job was deleted: stop
			// the work, leave the persisted state for the next controller.
			return
		}
		if err != nil {
			next = m.fail(store.DomainInternal, err.Error())
		}
		if next == "" {
			return
		}
		if err := m.advance(ctx, next); err != nil {
			var illegal *IllegalTransitionError
			if !errors.As(err, &illegal) || !Legal(st, lifecycle.Failing) {
				m.log.Error("job state machine stopped", "err", err)
				return
			}
			m.fail(store.DomainInternal, err.Error())
			if err := m.advance(ctx, lifecycle.Failing); err != nil {
				return
			}
		}
	}
}

// advance moves the job to state to, refusing transitions the table does
// not allow, and persists the new status.
func (m *machine) advance(ctx context.Context, to lifecycle.State) error {
	from := m.state()
	if !Legal(from, to) {
		m.log.Error("refused illegal transition", "from", from, "to", to)
		return &IllegalTransitionError{From: from, To: to}
	}
	m.setStatus(func(s *store.JobStatus) { s.State = to })
	m.log.Info("job state changed", "from", from, "to", to)
	if err := m.persist(ctx); err != nil {
		return err
	}
	if f := m.c.cfg.OnTransition; f != nil {
		f(m.jobID, from, to)
	}
	return nil
}

// persist writes the status, retrying briefly: losing a status write would
// leave the API showing a state the job is no longer in.
func (m *machine) persist(ctx context.Context) error {
	var err error
	for attempt := 0; attempt < 5; attempt++ {
		st := m.snapshot()
		st.UpdatedAt = m.now()
		if err = m.c.cfg.Store.UpdateJobStatus(ctx, m.jobID, st); err == nil {
			m.lastPersisted = st.UpdatedAt
			return nil
		}
		if errors.Is(err, store.ErrNotFound) || ctx.Err() != nil {
			break
		}
		m.log.Warn("writing job status", "err", err, "attempt", attempt+1)
		select {
		case <-ctx.Done():
		case <-time.After(time.Duration(100<<attempt) * time.Millisecond):
		}
	}
	m.log.Error("could not write job status", "err", err)
	return fmt.Errorf("writing status of %s: %w", m.jobID, err)
}

// fail records why the job fails and returns Failing.
func (m *machine) fail(domain store.ErrorDomain, msg string) lifecycle.State {
	m.setStatus(func(s *store.JobStatus) { s.Failure = &store.Failure{Error: msg, Domain: domain} })
	return lifecycle.Failing
}

// logMessage writes an entry to the job's history; failures to write it are
// logged, never fatal to the job.
func (m *machine) logMessage(ctx context.Context, level store.LogLevel, operator *string, task *int, msg, details string, domain *store.ErrorDomain) {
	err := m.c.cfg.Store.AddLogMessage(ctx, store.LogMessage{
		OrgID: m.p.OrgID, ID: store.NewID("jlm"), JobID: m.jobID, CreatedAt: m.now(),
		OperatorID: operator, TaskIndex: task, Level: level, Message: msg, Details: details, Domain: domain,
	})
	if err != nil && ctx.Err() == nil {
		m.log.Error("writing job log message", "err", err)
	}
}

// teardown ends the running execution, if any: gracefully first when asked,
// then by cancelling it. The preview output closes with it.
func (m *machine) teardown(mode stopRequest) {
	if m.exec == nil {
		return
	}
	exec := m.exec
	m.exec = nil
	defer m.c.cfg.Hub.Close(m.jobID)
	if m.cp != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		m.failCheckpoint(ctx, "the execution ended before the checkpoint completed")
		cancel()
	}
	timeout := m.c.cfg.StopTimeout
	switch mode {
	case stopGraceful:
		exec.Stop(engine.StopGraceful)
	case stopImmediate:
		exec.Stop(engine.StopImmediate)
	case stopForce:
		exec.Stop(engine.StopImmediate)
		timeout = 5 * time.Second
	}
	select {
	case <-exec.Done():
		return
	case <-time.After(timeout):
	}
	m.log.Warn("execution did not stop in time; cancelling", "timeout", timeout)
	exec.Stop(engine.StopImmediate)
	select {
	case <-exec.Done():
	case <-time.After(5 * time.Second):
		m.log.Error("execution still running after cancel; abandoning it")
	}
}

// stopTarget maps a desired stop mode to the state that carries it out,
// or "" when the job should keep going. Stops that arrive before the job is
// running skip the final checkpoint: there is nothing to checkpoint yet.
func (m *machine) stopTarget(stop lifecycle.StopMode, isRunning bool) lifecycle.State {
	switch stop {
	case lifecycle.StopCheckpoint:
		if isRunning {
			return lifecycle.CheckpointStopping
		}
		m.stop = stopImmediate
	case lifecycle.StopGraceful:
		m.stop = stopImmediate
		if isRunning {
			m.stop = stopGraceful
		}
	case lifecycle.StopImmediate:
		m.stop = stopImmediate
	case lifecycle.StopForce:
		m.stop = stopForce
	default:
		return ""
	}
	return lifecycle.Stopping
}

// backoff is the wait before recovery attempt n (1-based): exponential,
// capped, with jitter so that many failing jobs don't retry in lockstep.
func (m *machine) backoff(n int) time.Duration {
	exp := m.c.cfg.InitialBackoff
	for i := 1; i < n && exp < m.c.cfg.MaxBackoff; i++ {
		exp *= 2
	}
	exp = min(exp, m.c.cfg.MaxBackoff)
	return exp/2 + time.Duration(rand.Int64N(int64(exp/2)+1))
}

// overridesChanged reports whether the desired parallelism differs from what
// the running program was built with.
func (m *machine) overridesChanged(p store.Pipeline) bool {
	return p.Job.Config.ParallelismOverrides != nil && !maps.Equal(p.Job.Config.ParallelismOverrides, m.parallelism)
}
