// Package cluster wires the API, the controller, the embedded workers and
// the metadata store into one process: what `runnel cluster` runs, and
// what end-to-end tests start on a random port.
package cluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/runnel-dev/runnel/internal/api"
	"github.com/runnel-dev/runnel/internal/config"
	"github.com/runnel-dev/runnel/internal/controller"
	"github.com/runnel-dev/runnel/internal/engine"
	"github.com/runnel-dev/runnel/internal/metrics"
	"github.com/runnel-dev/runnel/internal/output"
	"github.com/runnel-dev/runnel/internal/state"
	"github.com/runnel-dev/runnel/internal/store"
	"github.com/runnel-dev/runnel/internal/store/storeopen"
	"github.com/runnel-dev/runnel/internal/webui"
)

// Cluster is a running single-process Runnel.
type Cluster struct {
	log   *slog.Logger
	cfg   config.Config
	store store.Store
	ctrl  *controller.Controller
	rpc   *loopback // nil unless the API reaches the controller over gRPC
	srv   *http.Server
	addr  string

	stopHTTP context.CancelFunc // ends long-lived requests such as SSE streams
	stopCtrl context.CancelFunc
	ctrlDone chan error
	srvDone  chan error

	once    sync.Once
	done    chan struct{}
	waitErr error
}

// Start opens the store (applying migrations), starts the controller and
// begins serving HTTP. It returns once the listener is bound; Addr gives
// the address when the configured port was 0. The cluster shuts down when
// ctx ends or Shutdown is called.
func Start(ctx context.Context, cfg config.Config, log *slog.Logger) (*Cluster, error) {
	if err := os.MkdirAll(cfg.DataDir, 0o750); err != nil {
		return nil, fmt.Errorf("creating data dir: %w", err)
	}
	st, err := storeopen.Open(ctx, cfg.DatabaseURL)
	if err != nil {
		return nil, fmt.Errorf("opening metadata store: %w", err)
	}
	cpURL := cfg.Controller.CheckpointURL
	if cpURL == "" {
		cpURL = filepath.Join(cfg.DataDir, "checkpoints")
	}
	checkpoints, err := state.Open(ctx, cpURL)
	if err != nil {
		_ = st.Close()
		return nil, fmt.Errorf("opening checkpoint storage: %w", err)
	}
	hub := output.NewHub(32, output.WithReplay(32))
	ctrl, err := controller.New(controller.Config{
		Store:            st,
		Runner:           engine.NewRunner(),
		Hub:              hub,
		Logger:           log,
		PollInterval:     cfg.Controller.PollInterval,
		PreviewRetention: cfg.Controller.PreviewRetention,
		AllowedRestarts:  cfg.Controller.AllowedRestarts,
		InitialBackoff:   cfg.Controller.InitialBackoff,
		MaxBackoff:       cfg.Controller.MaxBackoff,
		HealthyDuration:  cfg.Controller.HealthyDuration,
		StopTimeout:      cfg.Controller.StopTimeout,

		Checkpoints:         checkpoints,
		CheckpointTimeout:   cfg.Controller.CheckpointTimeout,
		CheckpointRetention: cfg.Controller.CheckpointRetention,
	})
	if err != nil {
		_ = st.Close()
		return nil, err
	}
	var apiCtrl api.Controller = ctrl
	var lb *loopback
	if cfg.API.ControllerGRPC {
		if lb, err = startLoopback(ctrl); err != nil {
			_ = st.Close()
			return nil, err
		}
		apiCtrl = lb.client
	}
	ln, err := net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		if lb != nil {
			_ = lb.stop()
		}
		_ = st.Close()
		return nil, fmt.Errorf("listening on %s: %w", cfg.HTTPAddr, err)
	}

	apiHandler := api.New(api.Config{
		Store:                     nudgingStore{Store: st, nudge: ctrl.Nudge},
		Planner:                   api.SQLPlanner(nil),
		Controller:                apiCtrl,
		Connectors:                api.ConnectorList(nil),
		Limits:                    api.Limits{MaxRunningJobs: cfg.Org.MaxRunningJobs},
		PreviewTTL:                cfg.API.PreviewTTL,
		DefaultCheckpointInterval: cfg.API.DefaultCheckpointInterval,
		MaxBodyBytes:              cfg.API.MaxBodyBytes,
		KeepAlive:                 cfg.API.SSEKeepAlive,
		Logger:                    log.With("component", "api"),
	})
	reg := prometheus.NewRegistry()
	reg.MustRegister(metrics.NewCollector(ctrl), collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	mux := http.NewServeMux()
	mux.Handle("/api/", apiHandler)
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.Handle("/", webui.Handler())

	httpCtx, stopHTTP := context.WithCancel(context.WithoutCancel(ctx))
	ctrlCtx, stopCtrl := context.WithCancel(context.WithoutCancel(ctx))
	c := &Cluster{
		log: log, cfg: cfg, store: st, ctrl: ctrl, rpc: lb, addr: ln.Addr().String(),
		srv: &http.Server{
			Handler:           mux,
			ReadHeaderTimeout: 10 * time.Second,
			BaseContext:       func(net.Listener) context.Context { return httpCtx },
		},
		stopHTTP: stopHTTP, stopCtrl: stopCtrl,
		ctrlDone: make(chan error, 1), srvDone: make(chan error, 1),
		done: make(chan struct{}),
	}
	go func() { c.ctrlDone <- ctrl.Run(ctrlCtx) }()
	go func() {
		err := c.srv.Serve(ln)
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		}
		c.srvDone <- err
	}()
	log.Info("listening", "addr", c.addr)
	go func() {
		select {
		case <-ctx.Done():
			log.Info("shutting down", "reason", context.Cause(ctx))
		case err := <-c.srvDone:
			c.srvDone <- err // let shutdown see it
			if err != nil {
				log.Error("http server failed", "err", err)
			}
		}
		c.shutdown()
	}()
	return c, nil
}

// Addr is the address the API listens on.
func (c *Cluster) Addr() string { return c.addr }

// URL is the base URL of the API and console.
func (c *Cluster) URL() string { return "http://" + c.addr }

// Controller exposes the controller (for tests).
func (c *Cluster) Controller() *controller.Controller { return c.ctrl }

// Store exposes the metadata store (for tests).
func (c *Cluster) Store() store.Store { return c.store }

// Wait blocks until the cluster has shut down and returns the first error
// of its parts.
func (c *Cluster) Wait() error {
	<-c.done
	return c.waitErr
}

// Shutdown stops the cluster and waits for it.
func (c *Cluster) Shutdown() error {
	go c.shutdown()
	return c.Wait()
}

// shutdown stops in dependency order: no new requests and no open streams,
// then the controller (which stops every execution and lets status writes
// finish), then the store. The loopback gRPC link, if any, goes once the
// streams over it have.
func (c *Cluster) shutdown() {
	c.once.Do(func() {
		var errs []error
		c.stopHTTP()
		ctx, cancel := context.WithTimeout(context.Background(), c.cfg.API.ShutdownTimeout)
		if err := c.srv.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("stopping http server: %w", err))
		}
		cancel()
		if err := <-c.srvDone; err != nil {
			errs = append(errs, err)
		}
		if c.rpc != nil {
			if err := c.rpc.stop(); err != nil {
				errs = append(errs, err)
			}
		}
		c.stopCtrl()
		if err := <-c.ctrlDone; err != nil {
			errs = append(errs, fmt.Errorf("controller: %w", err))
		}
		if err := c.store.Close(); err != nil {
			errs = append(errs, fmt.Errorf("closing store: %w", err))
		}
		c.waitErr = errors.Join(errs...)
		c.log.Info("stopped")
		close(c.done)
	})
}
