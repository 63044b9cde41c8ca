// Package api serves Runnel's REST API under /api/v1. Its routes, JSON
// shapes, messages and status codes follow Arroyo's /api/v1 (snake_case
// bodies, camelCase collection envelopes) so that Arroyo's clients work
// unchanged; see shared/spec/lifecycle.md. The API never drives jobs itself:
// it writes desired state to the store and the controller converges on it.
package api

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/runnel-dev/runnel/internal/engine"
	"github.com/runnel-dev/runnel/internal/metrics"
	"github.com/runnel-dev/runnel/internal/output"
	"github.com/runnel-dev/runnel/internal/store"
)

// Defaults applied by New to zero Config fields.
const (
	DefaultPreviewTTL         = 60 * time.Second
	DefaultCheckpointInterval = 10 * time.Second
	DefaultMaxBodyBytes       = 1 << 20
	DefaultKeepAlive          = 15 * time.Second
)

// Controller is the part of the job controller the API talks to directly:
// live output and live metrics, neither of which lives in the store.
type Controller interface {
	// SubscribeOutput attaches to a running job's preview output. It fails
	// with output.ErrUnknownJob or output.ErrNotRunning (possibly wrapped).
	SubscribeOutput(ctx context.Context, jobID string) (output.Stream, error)
	// JobMetrics returns the job's operator metric groups; a job that is
	// unknown or not running gives an empty list and no error.
	JobMetrics(ctx context.Context, jobID string) ([]metrics.OperatorGroup, error)
}

// PlanOptions are the planner settings the API chooses per request.
type PlanOptions struct {
	// Parallelism applied to every node.
	Parallelism int
	// Preview routes results to the preview sink.
	Preview bool
	// EnableSinks keeps the query's own sinks next to the preview sink.
	EnableSinks bool
}

// Program is what the API needs from a planned dataflow. *engine.Program
// satisfies it.
type Program interface {
	View() engine.GraphView
	HasPreviewSink() bool
}

// Planner compiles SQL. Errors in the user's query must be returned as (or
// wrap) a *PlanError so they become 400s with diagnostics; any other error
// is treated as an internal failure.
type Planner func(ctx context.Context, query string, opts PlanOptions) (Program, error)

// PlanError carries the diagnostics of a query that does not compile.
type PlanError struct {
	Diagnostics []Diagnostic
}

func (e *PlanError) Error() string {
	if len(e.Diagnostics) == 0 {
		return "invalid query"
	}
	return e.Diagnostics[0].Message
}

// Diagnostic is one problem in a query, with its position when known.
type Diagnostic struct {
	Message string
	Span    *Span
}

// Limits are an organisation's caps; zero means unlimited.
type Limits struct {
	MaxRunningJobs int
	MaxParallelism int
	MaxOperators   int
}

// Config configures the API handler. Store is required; without a Planner
// the routes that compile SQL answer 503.
type Config struct {
	Store   store.Store
	Planner Planner
	// Controller may be nil: metrics are then empty and output is 503.
	Controller Controller
	// Connectors lists the connectors for GET /connectors; nil lists none.
	Connectors func() []Connector
	// Limits apply to the default organisation.
	Limits Limits
	// PreviewTTL is how long a preview job runs (default 60 s).
	PreviewTTL time.Duration
	// DefaultCheckpointInterval is used when a create omits one (10 s).
	DefaultCheckpointInterval time.Duration
	// MaxBodyBytes caps request bodies (default 1 MiB).
	MaxBodyBytes int64
	// KeepAlive is the interval of SSE keep-alive comments (default 15 s).
	KeepAlive time.Duration
	// Logger defaults to discarding.
	Logger *slog.Logger
	// Now defaults to time.Now; tests pin it.
	Now func() time.Time
}

// server holds the handlers' dependencies; it is immutable after New.
type server struct {
	cfg Config
	log *slog.Logger
	now func() time.Time
	mux *chi.Mux
	doc []byte // the OpenAPI document, JSON
}

// New returns the API handler. Every path it does not know, inside or
// outside /api/v1, gets a JSON 404, so callers that also serve a web console
// should route /api/ here and everything else to the console.
func New(cfg Config) http.Handler {
	if cfg.Store == nil {
		panic("api: Config.Store is required")
	}
	if cfg.PreviewTTL <= 0 {
		cfg.PreviewTTL = DefaultPreviewTTL
	}
	if cfg.DefaultCheckpointInterval <= 0 {
		cfg.DefaultCheckpointInterval = DefaultCheckpointInterval
	}
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if cfg.KeepAlive <= 0 {
		cfg.KeepAlive = DefaultKeepAlive
	}
	if cfg.Connectors == nil {
		cfg.Connectors = func() []Connector { return nil }
	}
	s := &server{cfg: cfg, log: cfg.Logger, now: cfg.Now}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}

	s.mux = chi.NewRouter()
	s.mux.Use(s.recoverer)
	s.mux.NotFound(func(w http.ResponseWriter, r *http.Request) {
		writeError(w, errNotFound("Route"))
	})
	s.mux.MethodNotAllowed(s.methodNotAllowed)

	routes := s.routes()
	doc, err := openAPIJSON(routes)
	if err != nil {
		// The document is built from static types; failing here is a
		// programming error caught by the tests, not a runtime condition.
		panic("api: building OpenAPI document: " + err.Error())
	}
	s.doc = doc
	for _, rt := range routes {
		s.mux.Method(rt.Method, apiPrefix+rt.Path, rt.Handler)
	}
	return s.mux
}

// methodNotAllowed answers 405 with the methods the path does accept.
func (s *server) methodNotAllowed(w http.ResponseWriter, r *http.Request) {
	var allowed []string
	for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete} {
		if s.mux.Match(chi.NewRouteContext(), m, r.URL.Path) {
			allowed = append(allowed, m)
		}
	}
	for i, m := range allowed {
		if i == 0 {
			w.Header().Set("Allow", m)
		} else {
			w.Header().Add("Allow", m)
		}
	}
	writeError(w, &apiError{Status: http.StatusMethodNotAllowed, Message: "Method " + r.Method + " not allowed"})
}

// recoverer turns a handler panic into a logged 500 instead of a dropped
// connection.
func (s *server) recoverer(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			v := recover()
			if v == nil {
				return
			}
			if v == http.ErrAbortHandler {
				panic(v)
			}
			s.log.ErrorContext(r.Context(), "api handler panicked", "method", r.Method, "path", r.URL.Path, "panic", v)
			writeError(w, errInternal)
		}()
		next.ServeHTTP(w, r)
	})
}
