// Package cluster wires Runnel's parts into a process: the API, the
// controller with its workers (embedded, processes or pods) and the
// metadata store. `runnel cluster` runs them all in one process; `runnel
// api` and `runnel controller` run one part each; end-to-end tests start
// any of them on random ports.
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
	"github.com/runnel-dev/runnel/internal/metrics"
	"github.com/runnel-dev/runnel/internal/output"
	"github.com/runnel-dev/runnel/internal/state"
	"github.com/runnel-dev/runnel/internal/store"
	"github.com/runnel-dev/runnel/internal/store/storeopen"
	"github.com/runnel-dev/runnel/internal/webui"
)

// Roles are the parts of Runnel a process runs.
type Roles struct {
	API        bool
	Controller bool
}

// Cluster is a running Runnel process.
type Cluster struct {
	log    *slog.Logger
	cfg    config.Config
	store  store.Store
	ctrl   *controller.Controller // nil without the controller role
	parts  *controllerParts       // nil without the controller role
	remote *remoteController      // nil unless the API reaches a controller in another process
	srv    *http.Server           // nil without the API role
	addr   string

	stopHTTP context.CancelFunc // ends long-lived requests such as SSE streams
	stopCtrl context.CancelFunc
	ctrlDone chan error
	srvDone  chan error

	once    sync.Once
	done    chan struct{}
	waitErr error
}

// Start runs the API, the controller and its workers in one process.
func Start(ctx context.Context, cfg config.Config, log *slog.Logger) (*Cluster, error) {
	return StartRoles(ctx, cfg, log, Roles{API: true, Controller: true})
}

// StartRoles opens the store (applying migrations) and starts the parts
// roles name. It returns once the listeners are bound; Addr gives the API's
// address when the configured port was 0. The process shuts down when ctx
// ends or Shutdown is called.
func StartRoles(ctx context.Context, cfg config.Config, log *slog.Logger, roles Roles) (_ *Cluster, err error) {
	if !roles.API && !roles.Controller {
		return nil, errors.New("nothing to run: no role given")
	}
	if err := os.MkdirAll(cfg.DataDir, 0o750); err != nil {
		return nil, fmt.Errorf("creating data dir: %w", err)
	}
	st, err := storeopen.Open(ctx, cfg.DatabaseURL)
	if err != nil {
		return nil, fmt.Errorf("opening metadata store: %w", err)
	}
	c := &Cluster{
		log: log, cfg: cfg, store: st,
		ctrlDone: make(chan error, 1), srvDone: make(chan error, 1),
		done:     make(chan struct{}),
		stopHTTP: func() {}, stopCtrl: func() {},
	}
	defer func() {
		if err != nil {
			c.closeParts()
			_ = st.Close()
		}
	}()

	if roles.Controller {
		if err := c.startController(ctx, roles.API); err != nil {
			return nil, err
		}
	} else {
		c.ctrlDone <- nil
	}
	if roles.API {
		if err := c.startAPI(ctx); err != nil {
			c.stopCtrl()
			<-c.ctrlDone
			return nil, err
		}
	} else {
		c.srvDone <- nil
	}
	// Watch only the parts this process runs; the others' channels hold
	// their nil results for shutdown.
	srvDone, ctrlDone := c.srvDone, c.ctrlDone
	if !roles.API {
		srvDone = nil
	}
	if !roles.Controller {
		ctrlDone = nil
	}
	go func() {
		select {
		case <-ctx.Done():
			log.Info("shutting down", "reason", context.Cause(ctx))
		case err := <-srvDone:
			c.srvDone <- err // let shutdown see it
			if err != nil {
				log.Error("http server failed", "err", err)
			}
		case err := <-ctrlDone:
			c.ctrlDone <- err
			if err != nil {
				log.Error("controller failed", "err", err)
			}
		}
		c.shutdown()
	}()
	return c, nil
}

// startController builds the controller and its workers' runner, serves
// its gRPC services if anything outside the process needs them, and runs
// it (once it leads, when the store is shared).
func (c *Cluster) startController(ctx context.Context, withAPI bool) error {
	cfg := c.cfg
	cpURL := cfg.Controller.CheckpointURL
	if cpURL == "" {
		cpURL = filepath.Join(cfg.DataDir, "checkpoints")
	}
	checkpoints, err := state.Open(ctx, cpURL)
	if err != nil {
		return fmt.Errorf("opening checkpoint storage: %w", err)
	}
	hub := output.NewHub(32, output.WithReplay(32))
	parts, err := newControllerParts(ctx, cfg, c.log, checkpoints.URL(), withAPI)
	if err != nil {
		return err
	}
	c.parts = parts
	ctrl, err := controller.New(controller.Config{
		Store:            c.store,
		Runner:           parts.runner,
		Hub:              hub,
		Logger:           c.log,
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
		return err
	}
	c.ctrl = ctrl
	if err := parts.serve(ctrl); err != nil {
		return err
	}
	ctrlCtx, stopCtrl := context.WithCancel(context.WithoutCancel(ctx))
	c.stopCtrl = stopCtrl
	go func() { c.ctrlDone <- parts.lead(ctrlCtx, ctrl) }()
	return nil
}

// startAPI serves the REST API, the console and Prometheus metrics.
func (c *Cluster) startAPI(ctx context.Context) error {
	cfg := c.cfg
	var (
		apiCtrl api.Controller
		nudge   func()
	)
	if c.ctrl != nil && !cfg.API.ControllerGRPC {
		apiCtrl, nudge = c.ctrl, c.ctrl.Nudge
	} else {
		if c.ctrl != nil {
			// api.controller_grpc: through this process's controller
			// server, as an API server in another process would.
			cfg.API.ControllerAddr = c.parts.advertise
		}
		rc, err := newRemoteController(ctx, cfg, c.log)
		if err != nil {
			return err
		}
		c.remote, apiCtrl, nudge = rc, rc.Controller, rc.nudge
	}
	ln, err := net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		return fmt.Errorf("listening on %s: %w", cfg.HTTPAddr, err)
	}
	apiHandler := api.New(api.Config{
		Store:                     nudgingStore{Store: c.store, nudge: nudge},
		Planner:                   api.SQLPlanner(nil),
		Controller:                apiCtrl,
		Connectors:                api.ConnectorList(nil),
		Limits:                    api.Limits{MaxRunningJobs: cfg.Org.MaxRunningJobs},
		PreviewTTL:                cfg.API.PreviewTTL,
		DefaultCheckpointInterval: cfg.API.DefaultCheckpointInterval,
		MaxBodyBytes:              cfg.API.MaxBodyBytes,
		KeepAlive:                 cfg.API.SSEKeepAlive,
		Logger:                    c.log.With("component", "api"),
	})
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if c.ctrl != nil {
		reg.MustRegister(metrics.NewCollector(c.ctrl))
	}
	mux := http.NewServeMux()
	mux.Handle("/api/", apiHandler)
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.Handle("/", webui.Handler())

	httpCtx, stopHTTP := context.WithCancel(context.WithoutCancel(ctx))
	c.stopHTTP = stopHTTP
	c.addr = ln.Addr().String()
	c.srv = &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 10 * time.Second,
		BaseContext:       func(net.Listener) context.Context { return httpCtx },
	}
	go func() {
		err := c.srv.Serve(ln)
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		}
		c.srvDone <- err
	}()
	c.log.Info("listening", "addr", c.addr)
	return nil
}

// Addr is the address the API listens on ("" without the API role).
func (c *Cluster) Addr() string { return c.addr }

// URL is the base URL of the API and console.
func (c *Cluster) URL() string { return "http://" + c.addr }

// GRPCAddr is the controller's gRPC address ("" when it serves none).
func (c *Cluster) GRPCAddr() string {
	if c.parts == nil || c.parts.srv == nil {
		return ""
	}
	return c.parts.advertise
}

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

// closeParts stops what startController and startAPI started besides the
// HTTP server and the controller loop.
func (c *Cluster) closeParts() error {
	var errs []error
	if c.remote != nil {
		errs = append(errs, c.remote.close())
	}
	if c.parts != nil {
		errs = append(errs, c.parts.close())
	}
	return errors.Join(errs...)
}

// shutdown stops in dependency order: no new requests and no open streams,
// then the controller (which stops every execution and lets status writes
// finish), then its servers and workers, then the store.
func (c *Cluster) shutdown() {
	c.once.Do(func() {
		var errs []error
		c.stopHTTP()
		if c.srv != nil {
			ctx, cancel := context.WithTimeout(context.Background(), c.cfg.API.ShutdownTimeout)
			if err := c.srv.Shutdown(ctx); err != nil {
				errs = append(errs, fmt.Errorf("stopping http server: %w", err))
			}
			cancel()
		}
		if err := <-c.srvDone; err != nil {
			errs = append(errs, err)
		}
		c.stopCtrl()
		if err := <-c.ctrlDone; err != nil {
			errs = append(errs, fmt.Errorf("controller: %w", err))
		}
		if err := c.closeParts(); err != nil {
			errs = append(errs, err)
		}
		if err := c.store.Close(); err != nil {
			errs = append(errs, fmt.Errorf("closing store: %w", err))
		}
		c.waitErr = errors.Join(errs...)
		c.log.Info("stopped")
		close(c.done)
	})
}
