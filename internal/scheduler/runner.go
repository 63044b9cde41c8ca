package scheduler

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/runnel-dev/runnel/internal/engine"
	"github.com/runnel-dev/runnel/internal/metrics"
	"github.com/runnel-dev/runnel/internal/rpc"
	pb "github.com/runnel-dev/runnel/internal/rpc/runnelpb"
)

// RunnerConfig configures a Runner.
type RunnerConfig struct {
	Scheduler Scheduler
	// ControllerAddr is the controller's gRPC address as workers reach it.
	ControllerAddr string
	// CheckpointURL is the checkpoint storage workers write to; it must be
	// the one the controller reads (file:// only works on one machine).
	CheckpointURL string
	// Slots is the number of subtasks of each node a worker runs (default 4).
	Slots int
	// StartupTimeout bounds the wait for a run's workers to register and
	// start (default 60s).
	StartupTimeout time.Duration
	// HeartbeatInterval is how often workers heartbeat (default 1s);
	// a worker silent for HeartbeatTimeout (default 5s) is lost.
	HeartbeatInterval time.Duration
	HeartbeatTimeout  time.Duration
	// DialOptions reach workers (transport credentials included).
	DialOptions []grpc.DialOption
	Logger      *slog.Logger
}

// Runner is an engine.Runner that runs programs on workers: it asks the
// scheduler for a run's workers, waits for them to register, places every
// subtask on one of them and starts them. Its WorkerControlService receives
// what workers report.
type Runner struct {
	cfg RunnerConfig
	log *slog.Logger

	mu   sync.Mutex
	runs map[runKey]*run
}

var _ engine.Runner = (*Runner)(nil)

type runKey struct {
	job string
	run int64
}

// NewRunner checks cfg and returns a Runner.
func NewRunner(cfg RunnerConfig) (*Runner, error) {
	if cfg.Scheduler == nil || cfg.ControllerAddr == "" {
		return nil, errors.New("scheduler runner: a scheduler and the controller's address are required")
	}
	if cfg.Slots <= 0 {
		cfg.Slots = 4
	}
	if cfg.StartupTimeout <= 0 {
		cfg.StartupTimeout = time.Minute
	}
	if cfg.HeartbeatInterval <= 0 {
		cfg.HeartbeatInterval = time.Second
	}
	if cfg.HeartbeatTimeout <= 0 {
		cfg.HeartbeatTimeout = 5 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	r := &Runner{cfg: cfg, log: cfg.Logger.With("component", "scheduler"), runs: map[runKey]*run{}}
	if w, ok := cfg.Scheduler.(ExitWatcher); ok {
		w.WatchExits(r.WorkerExited)
	}
	return r, nil
}

// run is one run of a job on its workers.
type run struct {
	key     runKey
	opts    engine.RunOptions
	workers []*workerConn // by index
	ready   chan struct{} // closed once every worker registered
	exec    *execution    // set before the workers are started
}

type workerConn struct {
	id     string
	index  int
	addr   string
	conn   *grpc.ClientConn
	client pb.WorkerServiceClient

	// guarded by Runner.mu
	lastBeat time.Time
	metrics  []metrics.TaskCounters
}

// Start runs p on new workers.
func (r *Runner) Start(ctx context.Context, p *engine.Program, opts engine.RunOptions) (engine.Execution, error) {
	maxPar := 1
	for _, n := range p.Nodes {
		maxPar = max(maxPar, n.Parallelism)
	}
	n := (maxPar + r.cfg.Slots - 1) / r.cfg.Slots
	key := runKey{opts.JobID, opts.RunID}
	ru := &run{key: key, opts: opts, workers: make([]*workerConn, n), ready: make(chan struct{})}
	ru.exec = newExecution(r, ru, p.Tasks())
	r.mu.Lock()
	if _, dup := r.runs[key]; dup {
		r.mu.Unlock()
		return nil, fmt.Errorf("job %s run %d is running already", key.job, key.run)
	}
	r.runs[key] = ru
	r.mu.Unlock()

	started := false
	defer func() {
		if !started {
			r.forget(ru)
			sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
			defer cancel()
			if err := r.cfg.Scheduler.StopWorkers(sctx, key.job, key.run); err != nil {
				r.log.Warn("removing workers of a run that did not start", "job_id", key.job, "run_id", key.run, "err", err)
			}
		}
	}()
	// Workers of earlier runs of the job (left by a controller that died)
	// must not write alongside the new ones.
	if err := r.cfg.Scheduler.StopWorkers(ctx, key.job, 0); err != nil {
		return nil, fmt.Errorf("removing earlier workers: %w", err)
	}
	t0 := time.Now()
	req := StartRequest{JobID: key.job, RunID: key.run, Workers: n, Slots: r.cfg.Slots, ControllerAddr: r.cfg.ControllerAddr}
	if err := r.cfg.Scheduler.StartWorkers(ctx, req); err != nil {
		return nil, fmt.Errorf("starting %d workers: %w", n, err)
	}
	wait := time.NewTimer(r.cfg.StartupTimeout)
	defer wait.Stop()
	select {
	case <-ru.ready:
	case <-ru.exec.done:
		// A worker exited before all had registered (WorkerExited).
		return nil, fmt.Errorf("starting %d workers: %w", n, ru.exec.Err())
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-wait.C:
		return nil, fmt.Errorf("%d workers did not all register within %s", n, r.cfg.StartupTimeout)
	}
	registered := time.Since(t0)

	start := &pb.StartExecutionRequest{
		Plan:          rpc.PlanToPB(opts.Plan),
		Fingerprint:   p.Fingerprint(),
		Checkpointing: opts.Checkpoints != nil,
		CheckpointUrl: r.cfg.CheckpointURL,
	}
	if opts.Checkpoints != nil {
		start.RestoreEpoch = opts.Checkpoints.Restore
	}
	for _, w := range ru.workers {
		start.Peers = append(start.Peers, &pb.Peer{WorkerId: w.id, Address: w.addr})
	}
	for _, nd := range p.Nodes {
		for s := 0; s < nd.Parallelism; s++ {
			start.Placements = append(start.Placements, &pb.TaskPlacement{NodeId: int64(nd.ID), Subtask: int64(s), WorkerId: ru.workers[s%n].id})
		}
	}
	err := ru.each(ctx, r.cfg.StartupTimeout, func(ctx context.Context, w *workerConn) error {
		req := proto.Clone(start).(*pb.StartExecutionRequest)
		req.Worker = ru.ref(w)
		_, err := w.client.StartExecution(ctx, req)
		return err
	})
	if err != nil {
		if status.Code(err) == codes.DataLoss && opts.Checkpoints != nil {
			return nil, &engine.RestoreError{Epoch: opts.Checkpoints.Restore, Err: err}
		}
		return nil, err
	}
	started = true
	go ru.exec.watch(r.cfg.HeartbeatInterval, r.cfg.HeartbeatTimeout)
	r.log.Info("run started on workers", "job_id", key.job, "run_id", key.run, "workers", n, "tasks", p.Tasks(),
		"registered_in", registered.Round(time.Millisecond), "started_in", time.Since(t0).Round(time.Millisecond))
	return ru.exec, nil
}

func (ru *run) ref(w *workerConn) *pb.WorkerRef {
	return &pb.WorkerRef{WorkerId: w.id, JobId: ru.key.job, RunId: ru.key.run}
}

// each calls f for every worker at once and joins the errors, each naming
// its worker.
func (ru *run) each(ctx context.Context, timeout time.Duration, f func(context.Context, *workerConn) error) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	errs := make([]error, len(ru.workers))
	var wg sync.WaitGroup
	for i, w := range ru.workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := f(ctx, w); err != nil {
				errs[i] = fmt.Errorf("worker %s: %w", w.id, err)
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// forget drops a run; its workers' next heartbeat tells them to exit.
func (r *Runner) forget(ru *run) {
	r.mu.Lock()
	if r.runs[ru.key] == ru {
		delete(r.runs, ru.key)
	}
	r.mu.Unlock()
	for _, w := range ru.workers {
		if w != nil && w.conn != nil {
			_ = w.conn.Close()
		}
	}
}

// worker finds a registered worker of a live run.
func (r *Runner) worker(ref *pb.WorkerRef) (*run, *workerConn, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	ru, ok := r.runs[runKey{ref.GetJobId(), ref.GetRunId()}]
	if !ok {
		return nil, nil, status.Errorf(codes.NotFound, "job %s run %d is not running here", ref.GetJobId(), ref.GetRunId())
	}
	for _, w := range ru.workers {
		if w != nil && w.id == ref.GetWorkerId() {
			return ru, w, nil
		}
	}
	return nil, nil, status.Errorf(codes.NotFound, "worker %s is not part of job %s run %d", ref.GetWorkerId(), ref.GetJobId(), ref.GetRunId())
}

// WorkerExited tells the runner that a worker's process ended, which a
// scheduler that watches its workers learns before any heartbeat is
// missed.
func (r *Runner) WorkerExited(workerID string, err error) {
	r.mu.Lock()
	var lost *run
	for _, ru := range r.runs {
		// By index, not by the registered workers: a worker that exits
		// before it registers fails its run too.
		for i := range ru.workers {
			if WorkerID(ru.key.job, ru.key.run, i) == workerID {
				lost = ru
			}
		}
	}
	r.mu.Unlock()
	if lost != nil {
		lost.exec.workerLost(workerID, fmt.Errorf("worker process exited: %v", err))
	}
}

// ControlService is the WorkerControlService workers call; register it on
// the controller's gRPC server.
func (r *Runner) ControlService() pb.WorkerControlServiceServer { return controlService{r: r} }

type controlService struct {
	pb.UnimplementedWorkerControlServiceServer
	r *Runner
}

func (c controlService) RegisterWorker(_ context.Context, req *pb.RegisterWorkerRequest) (*pb.RegisterWorkerResponse, error) {
	r, ref := c.r, req.GetWorker()
	r.mu.Lock()
	defer r.mu.Unlock()
	ru, ok := r.runs[runKey{ref.GetJobId(), ref.GetRunId()}]
	if !ok {
		return nil, status.Errorf(codes.FailedPrecondition, "no run %d of job %s is waiting for workers", ref.GetRunId(), ref.GetJobId())
	}
	idx := -1
	for i := range ru.workers {
		if WorkerID(ru.key.job, ru.key.run, i) == ref.GetWorkerId() {
			idx = i
		}
	}
	if idx < 0 {
		return nil, status.Errorf(codes.InvalidArgument, "worker %s is not one of run %d's %d workers", ref.GetWorkerId(), ref.GetRunId(), len(ru.workers))
	}
	if ru.workers[idx] != nil {
		return nil, status.Errorf(codes.AlreadyExists, "worker %s registered already", ref.GetWorkerId())
	}
	conn, err := grpc.NewClient(req.GetAddress(), r.cfg.DialOptions...)
	if err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "worker address %q: %v", req.GetAddress(), err)
	}
	ru.workers[idx] = &workerConn{id: ref.GetWorkerId(), index: idx, addr: req.GetAddress(), conn: conn, client: pb.NewWorkerServiceClient(conn), lastBeat: time.Now()}
	if !slices.Contains(ru.workers, nil) {
		close(ru.ready)
	}
	r.log.Debug("worker registered", "worker_id", ref.GetWorkerId(), "address", req.GetAddress())
	return &pb.RegisterWorkerResponse{HeartbeatIntervalMs: r.cfg.HeartbeatInterval.Milliseconds()}, nil
}

func (c controlService) Heartbeat(_ context.Context, req *pb.HeartbeatRequest) (*pb.HeartbeatResponse, error) {
	_, w, err := c.r.worker(req.GetWorker())
	if err != nil {
		return nil, err
	}
	ms := rpc.TaskMetricsFromPB(req.GetTasks())
	c.r.mu.Lock()
	w.lastBeat = time.Now()
	w.metrics = ms
	c.r.mu.Unlock()
	return &pb.HeartbeatResponse{}, nil
}

func (c controlService) ReportCheckpoint(_ context.Context, req *pb.ReportCheckpointRequest) (*pb.ReportCheckpointResponse, error) {
	ru, _, err := c.r.worker(req.GetWorker())
	if err != nil {
		return nil, err
	}
	if cp := ru.opts.Checkpoints; cp != nil && cp.OnReport != nil {
		cp.OnReport(rpc.ReportFromPB(req))
	}
	return &pb.ReportCheckpointResponse{}, nil
}

func (c controlService) ExecutionEnded(_ context.Context, req *pb.ExecutionEndedRequest) (*pb.ExecutionEndedResponse, error) {
	ru, w, err := c.r.worker(req.GetWorker())
	if err != nil {
		return nil, err
	}
	ru.exec.workerEnded(w.index, req.GetFinished(), rpc.FailureFromPB(req.GetFailure()))
	return &pb.ExecutionEndedResponse{}, nil
}

func (c controlService) SendOutput(ctx context.Context, req *pb.SendOutputRequest) (*pb.SendOutputResponse, error) {
	ru, _, err := c.r.worker(req.GetWorker())
	if err != nil {
		return nil, err
	}
	if ru.opts.Output == nil {
		return nil, status.Error(codes.FailedPrecondition, "the run has no preview output")
	}
	if err := ru.opts.Output.Send(ctx, rpc.OutputFromPB(req.GetData())); err != nil {
		return nil, status.Errorf(codes.Unavailable, "%v", err)
	}
	return &pb.SendOutputResponse{}, nil
}
