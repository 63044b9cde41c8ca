package benchrun

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/runnel-dev/runnel/bench/nexmark"
	"github.com/runnel-dev/runnel/internal/engine"
	"github.com/runnel-dev/runnel/internal/rpc"
	"github.com/runnel-dev/runnel/internal/rpc/runnelpb"
	"github.com/runnel-dev/runnel/internal/scheduler"
	"github.com/runnel-dev/runnel/internal/scheduler/process"
	"github.com/runnel-dev/runnel/internal/sql"
)

// WorkersConfig compares one query run embedded with the same query run on
// worker processes.
type WorkersConfig struct {
	Query       string
	Events      int64
	Seed        int64
	Parallelism int
	// Workers is the number of `runnel worker` processes; each runs
	// Parallelism/Workers subtasks of every operator.
	Workers int
	// Binary is the runnel executable the workers run (default: this one).
	Binary string
	Logger *slog.Logger
}

// WorkersResult is both runs' throughput. Each is the events divided by the
// time from the subtasks running to the last sink finishing; StartupMs is
// how long the workers took to start and register before that.
type WorkersResult struct {
	Query                string  `json:"query"`
	Events               int64   `json:"events"`
	Parallelism          int     `json:"parallelism"`
	Workers              int     `json:"workers"`
	EmbeddedEventsPerSec float64 `json:"embedded_events_per_sec"`
	WorkersEventsPerSec  float64 `json:"workers_events_per_sec"`
	Ratio                float64 `json:"ratio"`
	StartupMs            float64 `json:"startup_ms"`
}

// RunOnWorkers runs the query embedded, then on worker processes started by
// the process scheduler, both into a blackhole sink.
func RunOnWorkers(ctx context.Context, cfg WorkersConfig) (WorkersResult, error) {
	if cfg.Events <= 0 || cfg.Parallelism <= 0 || cfg.Workers <= 0 {
		return WorkersResult{}, errors.New("events, parallelism and workers must be positive")
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	q, err := nexmark.Render(cfg.Query, nexmark.Source{Events: cfg.Events, Seed: cfg.Seed}, nexmark.Blackhole)
	if err != nil {
		return WorkersResult{}, err
	}
	p, err := sql.Plan(q, sql.Options{Parallelism: cfg.Parallelism})
	if err != nil {
		return WorkersResult{}, fmt.Errorf("plan %s: %w", cfg.Query, err)
	}
	opts := engine.RunOptions{JobID: "bench-" + cfg.Query, RunID: 1, Logger: log, Plan: engine.PlanSource{Query: q, Parallelism: cfg.Parallelism}}
	res := WorkersResult{Query: cfg.Query, Events: cfg.Events, Parallelism: cfg.Parallelism, Workers: cfg.Workers}

	embedded, err := timeRun(ctx, engine.NewRunner(), p, opts)
	if err != nil {
		return res, fmt.Errorf("embedded run: %w", err)
	}
	res.EmbeddedEventsPerSec = float64(cfg.Events) / embedded.Seconds()

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return res, err
	}
	srv := grpc.NewServer(rpc.KeepalivePolicy())
	defer srv.Stop()
	procs, err := process.New(process.Config{Binary: cfg.Binary, Logger: log, Output: io.Discard})
	if err != nil {
		return res, err
	}
	defer procs.Close()
	runner, err := scheduler.NewRunner(scheduler.RunnerConfig{
		Scheduler:      procs,
		ControllerAddr: ln.Addr().String(),
		Slots:          (cfg.Parallelism + cfg.Workers - 1) / cfg.Workers,
		DialOptions:    []grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())},
		Logger:         log,
	})
	if err != nil {
		return res, err
	}
	runnelpb.RegisterWorkerControlServiceServer(srv, runner.ControlService())
	go func() { _ = srv.Serve(ln) }()
	opts.RunID = 2
	began := time.Now()
	onWorkers, err := timeRun(ctx, runner, p, opts)
	if err != nil {
		return res, fmt.Errorf("run on workers: %w", err)
	}
	res.StartupMs = ms(time.Since(began) - onWorkers)
	res.WorkersEventsPerSec = float64(cfg.Events) / onWorkers.Seconds()
	res.Ratio = res.WorkersEventsPerSec / res.EmbeddedEventsPerSec
	return res, nil
}

// timeRun runs p to its end and returns the time from its subtasks running
// to its end.
func timeRun(ctx context.Context, r engine.Runner, p *engine.Program, opts engine.RunOptions) (time.Duration, error) {
	x, err := r.Start(ctx, p, opts)
	if err != nil {
		return 0, err
	}
	began := time.Now()
	select {
	case <-x.Done():
	case <-ctx.Done():
		x.Stop(engine.StopImmediate)
		<-x.Done()
		return 0, ctx.Err()
	}
	took := time.Since(began)
	if err := x.Err(); err != nil {
		return 0, err
	}
	if !x.Finished() {
		return 0, errors.New("ended before its sources were exhausted")
	}
	return took, nil
}
