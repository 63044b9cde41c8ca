package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"

	"github.com/runnel-dev/runnel/internal/engine"
	"github.com/runnel-dev/runnel/internal/metrics"
	"github.com/runnel-dev/runnel/internal/output"
	"github.com/runnel-dev/runnel/internal/store"
)

// fakePlanner stands in for internal/sql: queries mentioning ERROR fail
// with diagnostics, INTERNAL fails like an infrastructure problem, and
// anything else becomes source → project → sink (a preview sink for
// previews, both sinks with EnableSinks).
func fakePlanner(_ context.Context, query string, opts PlanOptions) (Program, error) {
	switch {
	case strings.Contains(query, "ERROR"):
		return nil, &PlanError{Diagnostics: []Diagnostic{
			{Message: "no such table: nope", Span: &Span{Start: Position{Line: 1, Column: 15}, End: Position{Line: 1, Column: 19}}},
			{Message: "second problem"},
		}}
	case strings.Contains(query, "INTERNAL"):
		return nil, errors.New("planner crashed")
	}
	p := opts.Parallelism
	g := engine.GraphView{
		Nodes: []engine.NodeView{
			{NodeID: 1, Operator: "source:impulse", Description: "impulse source", Parallelism: p},
			{NodeID: 2, Operator: "value_project", Description: "projection", Parallelism: p},
		},
		Edges: []engine.EdgeView{{SrcID: 1, DestID: 2, KeyType: "()", ValueType: "row", EdgeType: "forward"}},
	}
	sink := func(id int, op string) {
		g.Nodes = append(g.Nodes, engine.NodeView{NodeID: id, Operator: op, Description: op, Parallelism: p})
		g.Edges = append(g.Edges, engine.EdgeView{SrcID: 2, DestID: id, KeyType: "()", ValueType: "row", EdgeType: "forward"})
	}
	switch {
	case opts.Preview && opts.EnableSinks:
		sink(3, "sink:blackhole")
		sink(4, "sink:preview")
	case opts.Preview:
		sink(3, "sink:preview")
	default:
		sink(3, "sink:blackhole")
	}
	return fakeProgram{g}, nil
}

type fakeProgram struct{ g engine.GraphView }

func (p fakeProgram) View() engine.GraphView { return p.g }
func (p fakeProgram) HasPreviewSink() bool {
	return slices.ContainsFunc(p.g.Nodes, func(n engine.NodeView) bool { return strings.Contains(n.Operator, "preview") })
}

// testController is a controller reduced to what the API uses, built on
// the real output hub.
type testController struct {
	hub *output.Hub

	mu      sync.Mutex
	running map[string]bool
	metrics map[string][]metrics.OperatorGroup
}

func newTestController() *testController {
	return &testController{hub: output.NewHub(4), running: map[string]bool{}, metrics: map[string][]metrics.OperatorGroup{}}
}

// start marks a job running and returns the sink its preview writes to.
func (c *testController) start(jobID string) output.Sink {
	c.mu.Lock()
	c.running[jobID] = true
	c.mu.Unlock()
	return c.hub.Open(jobID)
}

func (c *testController) stop(jobID string) {
	c.mu.Lock()
	c.running[jobID] = false
	c.mu.Unlock()
	c.hub.Close(jobID)
}

func (c *testController) SubscribeOutput(_ context.Context, jobID string) (output.Stream, error) {
	c.mu.Lock()
	running, known := c.running[jobID]
	c.mu.Unlock()
	switch {
	case !known:
		return nil, output.ErrUnknownJob
	case !running:
		return nil, output.ErrNotRunning
	}
	return c.hub.Subscribe(jobID)
}

func (c *testController) JobMetrics(_ context.Context, jobID string) ([]metrics.OperatorGroup, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.metrics[jobID], nil
}

// syncBuffer is a log destination safe for concurrent handlers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type env struct {
	t      *testing.T
	srv    *httptest.Server
	store  store.Store
	ctrl   *testController
	logs   *syncBuffer
	router routers.Router

	clockMu sync.Mutex
	now     time.Time
}

// tick is the test clock: every reading is a millisecond later than the
// last, so creation order is unambiguous.
func (e *env) tick() time.Time {
	e.clockMu.Lock()
	defer e.clockMu.Unlock()
	e.now = e.now.Add(time.Millisecond)
	return e.now
}

type option func(*Config)

func newEnv(t *testing.T, opts ...option) *env {
	t.Helper()
	st := openStore(t)
	e := &env{t: t, store: st, ctrl: newTestController(), logs: &syncBuffer{},
		now: time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)}
	cfg := Config{
		Store:      st,
		Planner:    fakePlanner,
		Controller: e.ctrl,
		Connectors: func() []Connector {
			return []Connector{{ID: "impulse", Name: "Impulse", Description: "periodic events", TableConfig: "{}", Enabled: true, Source: true}}
		},
		Logger: slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Now:    e.tick,
	}
	for _, o := range opts {
		o(&cfg)
	}
	e.srv = httptest.NewServer(New(cfg))
	t.Cleanup(e.srv.Close)

	doc := e.doc()
	r, err := legacy.NewRouter(doc)
	if err != nil {
		t.Fatalf("router from OpenAPI document: %v", err)
	}
	e.router = r
	return e
}

// doc fetches and loads the served OpenAPI document.
func (e *env) doc() *openapi3.T {
	e.t.Helper()
	resp, err := http.Get(e.srv.URL + apiPrefix + openAPIPath)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	doc, err := openapi3.NewLoader().LoadFromData(raw)
	if err != nil {
		e.t.Fatalf("loading OpenAPI document: %v", err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		e.t.Fatalf("OpenAPI document invalid: %v", err)
	}
	return doc
}

type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) errMsg(t *testing.T) string {
	t.Helper()
	var b ErrorBody
	if err := json.Unmarshal(r.body, &b); err != nil {
		t.Fatalf("error body %q is not {\"error\":…}: %v", r.body, err)
	}
	return b.Error
}

// req sends a request. body is sent verbatim with Content-Type
// application/json unless headers say otherwise ("Content-Type": "" sends
// none). Every response is checked against the OpenAPI document when its
// operation is documented.
func (e *env) req(method, path, body string, headers ...string) response {
	e.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, e.srv.URL+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		if headers[i+1] == "" {
			req.Header.Del(headers[i])
		} else {
			req.Header.Set(headers[i], headers[i+1])
		}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	out := response{status: resp.StatusCode, header: resp.Header, body: raw}
	e.validate(req, out)
	return out
}

// validate checks a response against the document. Requests the document
// does not describe (unknown routes, wrong methods) have nothing to check.
func (e *env) validate(req *http.Request, r response) {
	e.t.Helper()
	vreq := req.Clone(context.Background())
	vreq.Body = http.NoBody
	route, params, err := e.router.FindRoute(vreq)
	if err != nil {
		if r.status != http.StatusNotFound && r.status != http.StatusMethodNotAllowed {
			e.t.Errorf("%s %s answered %d but is not in the OpenAPI document: %v", req.Method, req.URL.Path, r.status, err)
		}
		return
	}
	in := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{Request: vreq, PathParams: params, Route: route},
		Status:                 r.status,
		Header:                 r.header,
		Options:                &openapi3filter.Options{IncludeResponseStatus: true},
	}
	in.SetBodyBytes(r.body)
	if err := openapi3filter.ValidateResponse(context.Background(), in); err != nil {
		e.t.Errorf("%s %s: %d response %s does not match the OpenAPI document: %v", req.Method, req.URL.Path, r.status, truncate(r.body), err)
	}
}

func truncate(b []byte) string {
	if len(b) > 300 {
		return string(b[:300]) + "…"
	}
	return string(b)
}

// must sends a request that must answer status, decoding the body into out
// when out is non-nil.
func (e *env) must(status int, method, path, body string, out any) response {
	e.t.Helper()
	r := e.req(method, path, body)
	if r.status != status {
		e.t.Fatalf("%s %s: status %d, want %d; body %s", method, path, r.status, status, truncate(r.body))
	}
	if out != nil {
		if err := json.Unmarshal(r.body, out); err != nil {
			e.t.Fatalf("%s %s: decoding %s: %v", method, path, truncate(r.body), err)
		}
	}
	return r
}

func (e *env) create(name string, parallelism int) Pipeline {
	e.t.Helper()
	var p Pipeline
	body, _ := json.Marshal(map[string]any{"name": name, "query": "SELECT * FROM impulse", "parallelism": parallelism})
	e.must(http.StatusOK, http.MethodPost, "/api/v1/pipelines", string(body), &p)
	return p
}

func (e *env) jobOf(p Pipeline) Job {
	e.t.Helper()
	var jobs Collection[Job]
	e.must(http.StatusOK, http.MethodGet, "/api/v1/pipelines/"+p.ID+"/jobs", "", &jobs)
	if len(jobs.Data) != 1 {
		e.t.Fatalf("pipeline %s has %d jobs", p.ID, len(jobs.Data))
	}
	return jobs.Data[0]
}

// setState writes a job status as the controller would.
func (e *env) setState(jobID string, st store.JobStatus) {
	e.t.Helper()
	if err := e.store.UpdateJobStatus(context.Background(), jobID, st); err != nil {
		e.t.Fatal(err)
	}
}

// snapshot captures everything in the store, to show that rejected
// requests change nothing.
func (e *env) snapshot() string {
	e.t.Helper()
	ctx := context.Background()
	ps, err := e.store.AllPipelines(ctx)
	if err != nil {
		e.t.Fatal(err)
	}
	slices.SortFunc(ps, func(a, b store.Pipeline) int { return strings.Compare(a.ID, b.ID) })
	type jobState struct {
		Logs        map[store.LogLevel][]store.LogMessage
		Checkpoints []store.Checkpoint
	}
	jobs := map[string]jobState{}
	for _, p := range ps {
		js := jobState{Logs: map[store.LogLevel][]store.LogMessage{}}
		for _, lvl := range []store.LogLevel{store.LevelInfo, store.LevelWarn, store.LevelError} {
			ms, _, err := e.store.ListLogMessages(ctx, p.OrgID, p.Job.ID, lvl, store.Page{Limit: 1000})
			if err != nil {
				e.t.Fatal(err)
			}
			js.Logs[lvl] = ms
		}
		if js.Checkpoints, err = e.store.ListCheckpoints(ctx, p.OrgID, p.Job.ID); err != nil {
			e.t.Fatal(err)
		}
		jobs[p.Job.ID] = js
	}
	b, err := json.Marshal(struct {
		Pipelines []store.Pipeline
		Jobs      map[string]jobState
	}{ps, jobs})
	if err != nil {
		e.t.Fatal(err)
	}
	return string(b)
}

// openStore opens a real SQLite store in a temporary directory.
func openStore(t *testing.T) store.Store {
	t.Helper()
	st, err := openSQLite(context.Background(), filepath.Join(t.TempDir(), "runnel.db"))
	if err != nil {
		t.Fatalf("opening store: %v", err)
	}
	t.Cleanup(func() { _ = st.Close() })
	return st
}
