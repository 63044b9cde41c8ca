// Package process is the scheduler that starts workers as OS processes on
// the controller's machine: `runnel worker` with the run's identity. The
// workers die with the controller (on Linux the kernel kills them when it
// exits, however it exits), so a standby controller that takes over never
// finds the old leader's workers still writing.
package process

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"sync"

	"github.com/runnel-dev/runnel/internal/scheduler"
)

// Config configures the process scheduler.
type Config struct {
	// Binary is the runnel executable (default: this process's own).
	Binary string
	// Args are appended to every worker's command line (a --config flag,
	// say); Env to its environment, which is otherwise this process's.
	Args []string
	Env  []string
	// Output receives the workers' stdout and stderr (default os.Stderr).
	Output io.Writer
	Logger *slog.Logger
}

// Scheduler starts workers as child processes.
type Scheduler struct {
	cfg Config
	log *slog.Logger

	mu     sync.Mutex
	procs  map[string]*proc // by worker id
	onExit func(workerID string, err error)
}

type proc struct {
	id      string
	jobID   string
	runID   int64
	cmd     *exec.Cmd
	stopped bool          // guarded by Scheduler.mu
	exited  chan struct{} // closed once Wait returned
}

var (
	_ scheduler.Scheduler   = (*Scheduler)(nil)
	_ scheduler.ExitWatcher = (*Scheduler)(nil)
)

// WatchExits makes f be told when a worker exits without having been
// stopped.
func (s *Scheduler) WatchExits(f func(workerID string, err error)) {
	s.mu.Lock()
	s.onExit = f
	s.mu.Unlock()
}

// New returns a process scheduler.
func New(cfg Config) (*Scheduler, error) {
	if cfg.Binary == "" {
		bin, err := os.Executable()
		if err != nil {
			return nil, fmt.Errorf("process scheduler: finding the runnel binary: %w", err)
		}
		cfg.Binary = bin
	}
	if cfg.Output == nil {
		cfg.Output = os.Stderr
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Scheduler{cfg: cfg, log: cfg.Logger.With("component", "process-scheduler"), procs: map[string]*proc{}}, nil
}

// StartWorkers starts req.Workers processes.
func (s *Scheduler) StartWorkers(_ context.Context, req scheduler.StartRequest) error {
	for i := range req.Workers {
		id := scheduler.WorkerID(req.JobID, req.RunID, i)
		args := append(scheduler.WorkerArgs(req, i), s.cfg.Args...)
		// Not CommandContext: the worker outlives the request that made it.
		cmd := exec.Command(s.cfg.Binary, args...)
		cmd.Env = append(os.Environ(), s.cfg.Env...)
		cmd.Stdout, cmd.Stderr = s.cfg.Output, s.cfg.Output
		cmd.SysProcAttr = sysProcAttr()
		p := &proc{id: id, jobID: req.JobID, runID: req.RunID, cmd: cmd, exited: make(chan struct{})}
		s.mu.Lock()
		if _, dup := s.procs[id]; dup {
			s.mu.Unlock()
			continue
		}
		if err := cmd.Start(); err != nil {
			s.mu.Unlock()
			return fmt.Errorf("starting worker %s: %w", id, err)
		}
		s.procs[id] = p
		s.mu.Unlock()
		s.log.Info("worker started", "worker_id", id, "pid", cmd.Process.Pid)
		go s.wait(p)
	}
	return nil
}

func (s *Scheduler) wait(p *proc) {
	err := p.cmd.Wait()
	s.mu.Lock()
	stopped, onExit := p.stopped, s.onExit
	if s.procs[p.id] == p {
		delete(s.procs, p.id)
	}
	s.mu.Unlock()
	close(p.exited)
	if stopped {
		return
	}
	if err == nil {
		err = errors.New("exit status 0")
	}
	s.log.Warn("worker exited", "worker_id", p.id, "err", err)
	if onExit != nil {
		onExit(p.id, err)
	}
}

// StopWorkers kills the run's workers (every run's with runID 0) and waits
// for them to exit. Their run has ended or failed: nothing of theirs needs
// a graceful end.
func (s *Scheduler) StopWorkers(ctx context.Context, jobID string, runID int64) error {
	s.mu.Lock()
	var victims []*proc
	for _, p := range s.procs {
		if p.jobID == jobID && (runID == 0 || p.runID == runID) {
			p.stopped = true
			victims = append(victims, p)
		}
	}
	s.mu.Unlock()
	for _, p := range victims {
		if err := p.cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
			return fmt.Errorf("killing worker %s: %w", p.id, err)
		}
	}
	for _, p := range victims {
		select {
		case <-p.exited:
		case <-ctx.Done():
			return fmt.Errorf("waiting for worker %s to exit: %w", p.id, ctx.Err())
		}
	}
	return nil
}

// Workers lists the ids of the running workers, for tests and status.
func (s *Scheduler) Workers() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]int, len(s.procs))
	for id, p := range s.procs {
		out[id] = p.cmd.Process.Pid
	}
	return out
}

// Close kills every worker.
func (s *Scheduler) Close() {
	s.mu.Lock()
	jobs := map[string]bool{}
	for _, p := range s.procs {
		jobs[p.jobID] = true
	}
	s.mu.Unlock()
	ctx := context.Background()
	for j := range jobs {
		_ = s.StopWorkers(ctx, j, 0)
	}
}
