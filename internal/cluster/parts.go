package cluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"

	"google.golang.org/grpc"

	"github.com/runnel-dev/runnel/internal/config"
	"github.com/runnel-dev/runnel/internal/controller"
	"github.com/runnel-dev/runnel/internal/engine"
	"github.com/runnel-dev/runnel/internal/leader"
	"github.com/runnel-dev/runnel/internal/rpc"
	"github.com/runnel-dev/runnel/internal/rpc/runnelpb"
	"github.com/runnel-dev/runnel/internal/scheduler"
	"github.com/runnel-dev/runnel/internal/scheduler/process"
	"github.com/runnel-dev/runnel/internal/store/storeopen"
)

// controllerParts is what the controller needs around it: the runner its
// jobs run on, the scheduler behind it, and the gRPC server that API
// servers and workers reach it on.
type controllerParts struct {
	cfg config.Config
	log *slog.Logger

	runner engine.Runner
	remote *scheduler.Runner // nil for embedded workers
	closer func() error      // releases the scheduler's resources

	srv       *grpc.Server // nil when nothing outside the process calls in
	ln        net.Listener
	advertise string
	served    chan error
	serving   bool
}

// needsServer reports whether the controller must serve gRPC: its workers
// run elsewhere, API servers do, or the API here is to use it anyway.
func needsServer(cfg config.Config, withAPI bool) bool {
	return cfg.Controller.Scheduler != "embedded" || !withAPI || cfg.API.ControllerGRPC
}

func newControllerParts(ctx context.Context, cfg config.Config, log *slog.Logger, checkpointURL string, withAPI bool) (*controllerParts, error) {
	p := &controllerParts{cfg: cfg, log: log, closer: func() error { return nil }}
	if cfg.Controller.Scheduler == "embedded" {
		p.runner = engine.NewRunner()
	}
	if !needsServer(cfg, withAPI) {
		return p, nil
	}
	tlsCfg := TLSConfig(cfg)
	srvOpt, err := tlsCfg.ServerOption()
	if err != nil {
		return nil, err
	}
	dialOpt, err := tlsCfg.DialOption()
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", cfg.Controller.GRPCAddr)
	if err != nil {
		return nil, fmt.Errorf("listening for controller gRPC on %s: %w", cfg.Controller.GRPCAddr, err)
	}
	p.ln, p.srv, p.served = ln, grpc.NewServer(srvOpt, rpc.KeepalivePolicy()), make(chan error, 1)
	p.advertise = cfg.Controller.AdvertiseAddr
	if p.advertise == "" {
		p.advertise = ln.Addr().String()
	}
	if p.runner != nil {
		return p, nil
	}
	if strings.HasPrefix(checkpointURL, "file://") && cfg.Controller.Scheduler == "kubernetes" {
		log.Warn("workers in pods cannot share file:// checkpoint storage with the controller unless it is a shared volume", "checkpoint_url", checkpointURL)
	}
	var sched scheduler.Scheduler
	switch cfg.Controller.Scheduler {
	case "process":
		procs, err := process.New(process.Config{Env: workerEnv(cfg), Logger: log})
		if err != nil {
			_ = ln.Close()
			return nil, err
		}
		sched = procs
		p.closer = func() error { procs.Close(); return nil }
	case "kubernetes":
		k, closer, err := kubernetesScheduler(ctx, cfg, log)
		if err != nil {
			_ = ln.Close()
			return nil, err
		}
		sched, p.closer = k, closer
	}
	remote, err := scheduler.NewRunner(scheduler.RunnerConfig{
		Scheduler:         sched,
		ControllerAddr:    p.advertise,
		CheckpointURL:     checkpointURL,
		Slots:             cfg.Controller.SlotsPerWorker,
		StartupTimeout:    cfg.Controller.WorkerStartupTimeout,
		HeartbeatInterval: cfg.Controller.HeartbeatInterval,
		HeartbeatTimeout:  cfg.Controller.HeartbeatTimeout,
		DialOptions:       []grpc.DialOption{dialOpt},
		Logger:            log,
	})
	if err != nil {
		_ = ln.Close()
		_ = p.closer()
		return nil, err
	}
	p.remote, p.runner = remote, remote
	return p, nil
}

// TLSConfig is the gRPC TLS setting of every component, workers included.
func TLSConfig(cfg config.Config) rpc.TLSConfig {
	return rpc.TLSConfig{CertFile: cfg.TLS.CertFile, KeyFile: cfg.TLS.KeyFile, CAFile: cfg.TLS.CAFile, ServerName: cfg.TLS.ServerName}
}

// workerEnv passes the settings workers share with the controller to the
// worker processes, which otherwise inherit this process's environment.
func workerEnv(cfg config.Config) []string {
	env := []string{
		config.EnvPrefix + "LOG_LEVEL=" + cfg.LogLevel,
		config.EnvPrefix + "LOG_FORMAT=" + cfg.LogFormat,
		config.EnvPrefix + "WORKER__CONTROLLER_TIMEOUT=" + cfg.Worker.ControllerTimeout.String(),
	}
	for k, v := range map[string]string{
		"TLS__CERT_FILE": cfg.TLS.CertFile, "TLS__KEY_FILE": cfg.TLS.KeyFile,
		"TLS__CA_FILE": cfg.TLS.CAFile, "TLS__SERVER_NAME": cfg.TLS.ServerName,
	} {
		if v != "" {
			env = append(env, config.EnvPrefix+k+"="+v)
		}
	}
	return env
}

// serve starts the gRPC server, if there is one.
func (p *controllerParts) serve(ctrl *controller.Controller) error {
	if p.srv == nil {
		return nil
	}
	runnelpb.RegisterControllerServiceServer(p.srv, rpc.NewControllerServer(ctrl))
	if p.remote != nil {
		runnelpb.RegisterWorkerControlServiceServer(p.srv, p.remote.ControlService())
	}
	p.serving = true
	go func() { p.served <- p.srv.Serve(p.ln) }()
	p.log.Info("controller gRPC listening", "addr", p.ln.Addr().String(), "advertise", p.advertise, "scheduler", p.cfg.Controller.Scheduler)
	return nil
}

// lead runs the controller. With a shared (PostgreSQL) store it first
// waits to be the leader, and stops at once if it loses the lease: two
// controllers must never drive the same jobs.
func (p *controllerParts) lead(ctx context.Context, ctrl *controller.Controller) error {
	if !storeopen.IsPostgres(p.cfg.DatabaseURL) {
		return ctrl.Run(ctx)
	}
	host, _ := os.Hostname()
	identity := fmt.Sprintf("%s/%d", host, os.Getpid())
	p.log.Info("waiting for the controller lease", "identity", identity)
	lease, err := leader.Campaign(ctx, leader.Config{URL: p.cfg.DatabaseURL, Identity: identity, Address: p.advertise, Logger: p.log})
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("campaigning for the controller lease: %w", err)
	}
	p.log.Info("leading: this controller runs the jobs", "identity", identity, "address", p.advertise)
	runCtx, cancel := context.WithCancel(ctx)
	lost := make(chan struct{})
	go func() {
		select {
		case <-lease.Lost():
			close(lost)
			cancel()
		case <-runCtx.Done():
		}
	}()
	err = ctrl.Run(runCtx)
	cancel()
	_ = lease.Release(context.WithoutCancel(ctx))
	select {
	case <-lost:
		return errors.Join(errors.New("lost the controller lease; exiting so that the new leader alone runs jobs"), err)
	default:
		return err
	}
}

func (p *controllerParts) close() error {
	var errs []error
	switch {
	case p.serving:
		p.srv.Stop()
		if err := <-p.served; err != nil && !errors.Is(err, grpc.ErrServerStopped) {
			errs = append(errs, fmt.Errorf("controller gRPC server: %w", err))
		}
	case p.ln != nil:
		_ = p.ln.Close()
	}
	errs = append(errs, p.closer())
	return errors.Join(errs...)
}
