// Package worker is the `runnel worker` process: it runs one worker's share
// of one run of a job. The scheduler starts it knowing its job, run and id;
// it serves WorkerService (the controller's commands) and DataService (the
// other workers' data) on one port, registers with the controller and
// heartbeats until the run is over. Losing the controller for longer than
// the heartbeat timeout ends the worker: a controller that comes back (or a
// standby that took over) recovers the job on new workers.
package worker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/status"

	"github.com/runnel-dev/runnel/internal/engine"
	"github.com/runnel-dev/runnel/internal/exchange"
	"github.com/runnel-dev/runnel/internal/output"
	"github.com/runnel-dev/runnel/internal/rpc"
	pb "github.com/runnel-dev/runnel/internal/rpc/runnelpb"
	"github.com/runnel-dev/runnel/internal/sql"
	"github.com/runnel-dev/runnel/internal/state"
)

// Config configures a worker.
type Config struct {
	ControllerAddr string
	JobID          string
	RunID          int64
	WorkerID       string
	Slots          int
	// ListenAddr is where WorkerService and DataService listen (default
	// 127.0.0.1:0); AdvertiseHost, if set, replaces its host in the
	// address given to the controller and peers (a pod IP, say).
	ListenAddr    string
	AdvertiseHost string
	// HeartbeatTimeout is how long the controller may be unreachable
	// before the worker gives up (default 10s).
	HeartbeatTimeout time.Duration
	// ServerOptions and DialOptions carry TLS settings; DialOptions must
	// include transport credentials.
	ServerOptions []grpc.ServerOption
	DialOptions   []grpc.DialOption
	// QueueSize is each subtask's input queue capacity (engine default).
	QueueSize int
	Logger    *slog.Logger
}

// Run serves until the controller ends the run, becomes unreachable, or
// ctx ends. It returns nil when the controller ended the run.
func Run(ctx context.Context, cfg Config) error {
	if cfg.ControllerAddr == "" || cfg.JobID == "" || cfg.WorkerID == "" {
		return errors.New("worker: controller address, job id and worker id are required")
	}
	if cfg.ListenAddr == "" {
		cfg.ListenAddr = "127.0.0.1:0"
	}
	if cfg.HeartbeatTimeout <= 0 {
		cfg.HeartbeatTimeout = 10 * time.Second
	}
	if cfg.Slots <= 0 {
		cfg.Slots = 1
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	log := cfg.Logger.With("component", "worker", "worker_id", cfg.WorkerID, "job_id", cfg.JobID, "run_id", cfg.RunID)

	ln, err := net.Listen("tcp", cfg.ListenAddr)
	if err != nil {
		return fmt.Errorf("worker: listen on %s: %w", cfg.ListenAddr, err)
	}
	addr := ln.Addr().String()
	if cfg.AdvertiseHost != "" {
		_, port, _ := net.SplitHostPort(addr)
		addr = net.JoinHostPort(cfg.AdvertiseHost, port)
	}
	// Keepalives notice a peer machine that vanished without closing its
	// connections, in both directions.
	cfg.DialOptions = append(cfg.DialOptions, rpc.KeepaliveDial())
	cfg.ServerOptions = append(cfg.ServerOptions, rpc.KeepalivePolicy(),
		grpc.KeepaliveParams(keepalive.ServerParameters{Time: rpc.KeepaliveTime, Timeout: rpc.KeepaliveTimeout}))
	conn, err := grpc.NewClient(cfg.ControllerAddr, cfg.DialOptions...)
	if err != nil {
		_ = ln.Close()
		return fmt.Errorf("worker: controller client: %w", err)
	}
	defer conn.Close()

	w := &worker{
		cfg:     cfg,
		log:     log,
		ref:     &pb.WorkerRef{WorkerId: cfg.WorkerID, JobId: cfg.JobID, RunId: cfg.RunID},
		control: pb.NewWorkerControlServiceClient(conn),
		reg:     exchange.NewRegistry(),
	}
	w.reporting, w.stopReporting = context.WithCancel(context.Background())
	w.reported = make(chan struct{})
	defer w.shutdown()
	srv := grpc.NewServer(cfg.ServerOptions...)
	pb.RegisterWorkerServiceServer(srv, w)
	pb.RegisterDataServiceServer(srv, exchange.NewService(w.reg))
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	defer srv.Stop()

	interval, err := w.register(ctx, addr)
	if err != nil {
		return err
	}
	log.Info("worker registered", "address", addr, "slots", cfg.Slots, "heartbeat_interval", interval)
	return w.heartbeat(ctx, interval, served)
}

type worker struct {
	pb.UnimplementedWorkerServiceServer
	cfg     Config
	log     *slog.Logger
	ref     *pb.WorkerRef
	control pb.WorkerControlServiceClient
	reg     *exchange.Registry

	mu    sync.Mutex
	exec  engine.Execution
	tr    *exchange.Transport
	store *state.Storage

	// reporting bounds await's report of the execution's end, which must
	// not outlive Run: Run closes the connection it goes over. reported
	// is closed when await returns.
	reporting     context.Context
	stopReporting context.CancelFunc
	reported      chan struct{}
}

// register announces the worker, retrying while the controller is not
// reachable yet, for up to the heartbeat timeout.
func (w *worker) register(ctx context.Context, addr string) (time.Duration, error) {
	deadline := time.Now().Add(w.cfg.HeartbeatTimeout)
	for {
		rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		resp, err := w.control.RegisterWorker(rctx, &pb.RegisterWorkerRequest{Worker: w.ref, Address: addr, Slots: int64(w.cfg.Slots)})
		cancel()
		if err == nil {
			iv := time.Duration(resp.GetHeartbeatIntervalMs()) * time.Millisecond
			if iv <= 0 {
				iv = time.Second
			}
			return iv, nil
		}
		if c := status.Code(err); c == codes.FailedPrecondition || c == codes.NotFound || time.Now().After(deadline) || ctx.Err() != nil {
			return 0, fmt.Errorf("worker: registering with %s: %w", w.cfg.ControllerAddr, err)
		}
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// heartbeat reports liveness and metrics until the controller says the run
// is over or has not answered for the heartbeat timeout.
func (w *worker) heartbeat(ctx context.Context, interval time.Duration, served <-chan error) error {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	lastOK := time.Now()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case err := <-served:
			return fmt.Errorf("worker: server ended: %w", err)
		case <-tick.C:
		}
		req := &pb.HeartbeatRequest{Worker: w.ref, Time: time.Now().UnixMicro()}
		if x := w.execution(); x != nil {
			req.Tasks = rpc.TaskMetricsToPB(x.Metrics())
		}
		hctx, cancel := context.WithTimeout(ctx, max(interval, time.Second))
		_, err := w.control.Heartbeat(hctx, req)
		cancel()
		switch {
		case err == nil:
			lastOK = time.Now()
		case status.Code(err) == codes.NotFound:
			w.log.Info("controller ended the run; exiting")
			return nil
		case time.Since(lastOK) > w.cfg.HeartbeatTimeout:
			return fmt.Errorf("worker: controller unreachable for %s: %w", time.Since(lastOK).Round(time.Millisecond), err)
		default:
			w.log.Warn("heartbeat failed", "err", err)
		}
	}
}

func (w *worker) execution() engine.Execution {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.exec
}

// shutdown stops whatever still runs when the worker exits.
func (w *worker) shutdown() {
	w.mu.Lock()
	x, tr := w.exec, w.tr
	w.mu.Unlock()
	if x != nil {
		x.Stop(engine.StopImmediate)
		select {
		case <-x.Done():
		case <-time.After(5 * time.Second):
			w.log.Warn("subtasks did not stop within 5s")
		}
		// A moment for the end report: a failure (an evicted pod, say)
		// reaches the controller sooner than a missed heartbeat would.
		select {
		case <-w.reported:
		case <-time.After(2 * time.Second):
		}
	}
	w.stopReporting()
	if x != nil {
		<-w.reported
	}
	if tr != nil {
		tr.Close()
	}
}

func (w *worker) checkRef(ref *pb.WorkerRef) error {
	if ref.GetJobId() != w.cfg.JobID || ref.GetRunId() != w.cfg.RunID || ref.GetWorkerId() != w.cfg.WorkerID {
		return status.Errorf(codes.FailedPrecondition, "this is worker %s of job %s run %d, not %s of %s run %d",
			w.cfg.WorkerID, w.cfg.JobID, w.cfg.RunID, ref.GetWorkerId(), ref.GetJobId(), ref.GetRunId())
	}
	return nil
}

// StartExecution plans the query, checks it matches the controller's
// program, and starts this worker's subtasks.
func (w *worker) StartExecution(ctx context.Context, req *pb.StartExecutionRequest) (*pb.StartExecutionResponse, error) {
	if err := w.checkRef(req.GetWorker()); err != nil {
		return nil, err
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.exec != nil {
		return nil, status.Error(codes.AlreadyExists, "the execution has started already")
	}
	prog, err := plan(req.GetPlan())
	if err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "planning the job's query: %v", err)
	}
	if fp := prog.Fingerprint(); fp != req.GetFingerprint() {
		return nil, status.Errorf(codes.FailedPrecondition, "the query plans differently here (program %s, controller's %s): is this worker the same version as the controller?", fp, req.GetFingerprint())
	}
	peers := map[string]string{}
	for _, p := range req.GetPeers() {
		peers[p.GetWorkerId()] = p.GetAddress()
	}
	placed := map[engine.TaskAddr]string{}
	for _, p := range req.GetPlacements() {
		placed[engine.TaskAddr{NodeID: int(p.GetNodeId()), Subtask: int(p.GetSubtask())}] = p.GetWorkerId()
	}
	for _, n := range prog.Nodes {
		for s := 0; s < n.Parallelism; s++ {
			id, ok := placed[engine.TaskAddr{NodeID: n.ID, Subtask: s}]
			if !ok {
				return nil, status.Errorf(codes.InvalidArgument, "subtask %d/%d has no worker", n.ID, s)
			}
			if _, ok := peers[id]; !ok && id != w.cfg.WorkerID {
				return nil, status.Errorf(codes.InvalidArgument, "subtask %d/%d is placed on unknown worker %s", n.ID, s, id)
			}
		}
	}
	route := func(a engine.TaskAddr) (string, bool) {
		id := placed[a]
		return peers[id], id == w.cfg.WorkerID
	}
	tr := exchange.NewTransport(w.reg, w.cfg.JobID, w.cfg.RunID, route, func(addr string) (*grpc.ClientConn, error) {
		return grpc.NewClient(addr, w.cfg.DialOptions...)
	})
	opts := engine.RunOptions{
		JobID:    w.cfg.JobID,
		RunID:    w.cfg.RunID,
		Logger:   w.log,
		Assigned: func(a engine.TaskAddr) bool { return placed[a] == w.cfg.WorkerID },
	}
	if prog.HasPreviewSink() {
		opts.Output = outputRelay{w}
	}
	if req.GetCheckpointing() {
		if w.store == nil {
			st, err := state.Open(ctx, req.GetCheckpointUrl())
			if err != nil {
				tr.Close()
				return nil, status.Errorf(codes.InvalidArgument, "opening checkpoint storage: %v", err)
			}
			w.store = st
		}
		opts.Checkpoints = &engine.CheckpointOptions{Store: w.store, Restore: req.GetRestoreEpoch(), OnReport: w.report}
	}
	// The run outlives this RPC: its context is the worker's, ended by
	// StopExecution or by the worker's shutdown.
	local := &engine.Local{QueueSize: w.cfg.QueueSize, NewTransport: func() engine.Transport { return tr }}
	x, err := local.Start(context.WithoutCancel(ctx), prog, opts)
	if err != nil {
		tr.Close()
		var re *engine.RestoreError
		if errors.As(err, &re) {
			return nil, status.Errorf(codes.DataLoss, "%v", err)
		}
		return nil, status.Errorf(codes.Internal, "starting subtasks: %v", err)
	}
	w.exec, w.tr = x, tr
	go w.await(x)
	w.log.Info("execution started", "tasks", x.Tasks(), "restore_epoch", req.GetRestoreEpoch())
	return &pb.StartExecutionResponse{Tasks: int64(x.Tasks())}, nil
}

// await tells the controller how the execution ended.
func (w *worker) await(x engine.Execution) {
	defer close(w.reported)
	select {
	case <-x.Done():
	case <-w.reporting.Done():
		return
	}
	// Streams this worker still holds open now fail their receivers, so a
	// failed share brings its peers down at once instead of leaving them
	// waiting for data that will not come.
	w.mu.Lock()
	tr := w.tr
	w.mu.Unlock()
	if err := tr.Close(); err != nil {
		w.log.Debug("closing the data transport", "err", err)
	}
	req := &pb.ExecutionEndedRequest{Worker: w.ref, Finished: x.Finished(), Failure: rpc.FailureToPB(x.Err())}
	for attempt := 0; ; attempt++ {
		ctx, cancel := context.WithTimeout(w.reporting, 5*time.Second)
		_, err := w.control.ExecutionEnded(ctx, req)
		cancel()
		if err == nil || attempt >= 5 || status.Code(err) == codes.NotFound || w.reporting.Err() != nil {
			if err != nil {
				w.log.Warn("reporting the end of the execution", "err", err)
			}
			return
		}
		select {
		case <-w.reporting.Done():
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// report forwards a subtask's checkpoint report. A report that cannot be
// delivered makes the epoch time out on the controller, which fails the
// epoch but not the job.
func (w *worker) report(r engine.CheckpointReport) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := w.control.ReportCheckpoint(ctx, rpc.ReportToPB(w.ref, r)); err != nil {
		w.log.Warn("reporting checkpoint", "epoch", r.Epoch, "operator", r.OperatorID, "subtask", r.Subtask, "err", err)
	}
}

// running is the execution a command addressed to ref acts on.
func (w *worker) running(ref *pb.WorkerRef) (engine.Execution, error) {
	if err := w.checkRef(ref); err != nil {
		return nil, err
	}
	x := w.execution()
	if x == nil {
		return nil, status.Error(codes.FailedPrecondition, "no execution is running")
	}
	return x, nil
}

// StopExecution stops the subtasks; the end is reported by await.
func (w *worker) StopExecution(_ context.Context, req *pb.StopExecutionRequest) (*pb.StopExecutionResponse, error) {
	x, err := w.running(req.GetWorker())
	if err != nil {
		return nil, err
	}
	mode := engine.StopGraceful
	if req.GetImmediate() {
		mode = engine.StopImmediate
	}
	x.Stop(mode)
	return &pb.StopExecutionResponse{}, nil
}

// Checkpoint has this worker's sources inject a barrier.
func (w *worker) Checkpoint(_ context.Context, req *pb.CheckpointRequest) (*pb.CheckpointResponse, error) {
	x, err := w.running(req.GetWorker())
	if err != nil {
		return nil, err
	}
	if err := x.Checkpoint(req.GetEpoch(), req.GetFinal()); err != nil {
		return nil, status.Errorf(codes.FailedPrecondition, "%v", err)
	}
	return &pb.CheckpointResponse{}, nil
}

// Commit has this worker's two-phase sinks publish an epoch.
func (w *worker) Commit(ctx context.Context, req *pb.CommitRequest) (*pb.CommitResponse, error) {
	x, err := w.running(req.GetWorker())
	if err != nil {
		return nil, err
	}
	if err := x.Commit(ctx, req.GetEpoch()); err != nil {
		return nil, status.Errorf(codes.Internal, "%v", err)
	}
	return &pb.CommitResponse{}, nil
}

// plan turns the controller's plan spec into a program, as the controller
// did.
func plan(spec *pb.PlanSpec) (*engine.Program, error) {
	src := rpc.PlanFromPB(spec)
	prog, err := sql.Plan(src.Query, sql.Options{Parallelism: src.Parallelism, Preview: src.Preview, EnableSinks: src.EnableSinks})
	if err != nil {
		return nil, err
	}
	if len(src.Overrides) > 0 {
		return prog.WithParallelism(src.Overrides)
	}
	return prog, nil
}

// outputRelay sends preview rows to the controller.
type outputRelay struct{ w *worker }

func (o outputRelay) Send(ctx context.Context, d output.Data) error {
	_, err := o.w.control.SendOutput(ctx, &pb.SendOutputRequest{Worker: o.w.ref, Data: rpc.OutputToPB(d)})
	if err != nil {
		return fmt.Errorf("relaying preview output of subtask %s: %w", strconv.Itoa(d.SubtaskIdx), err)
	}
	return nil
}
