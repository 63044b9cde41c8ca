package client

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/runnel-dev/runnel/internal/cluster"
	"github.com/runnel-dev/runnel/internal/config"
)

// These tests run the client against a real in-process cluster: every
// method, the wire types decoded strictly from real responses, and the
// types and routes compared with the server's OpenAPI document.

const (
	doublerSQL = `CREATE TABLE impulse WITH (connector='impulse', event_rate='100');
CREATE TABLE sink WITH (connector='blackhole');
INSERT INTO sink SELECT counter * 2 AS doubled FROM impulse;`
	previewSQL = `CREATE TABLE impulse WITH (connector = 'impulse', event_rate = '200');
SELECT counter, counter % 3 AS bucket FROM impulse;`
	// Dividing by zero at counter 5 fails the task on every run.
	failingSQL = `CREATE TABLE impulse WITH (connector='impulse', event_rate='100');
CREATE TABLE sink WITH (connector='blackhole');
INSERT INTO sink SELECT 10 / (counter - 5) AS boom FROM impulse;`
)

func startCluster(t *testing.T) *cluster.Cluster {
	t.Helper()
	dir := t.TempDir()
	cfg := config.Defaults()
	cfg.HTTPAddr = "127.0.0.1:0"
	cfg.DataDir = dir
	cfg.DatabaseURL = "sqlite://" + filepath.Join(dir, "runnel.db")
	cfg.Controller.PollInterval = 50 * time.Millisecond
	cfg.Controller.StopTimeout = 5 * time.Second
	cfg.Controller.InitialBackoff = 10 * time.Millisecond
	cfg.Controller.MaxBackoff = 50 * time.Millisecond
	cfg.Controller.AllowedRestarts = 2
	cfg.API.ShutdownTimeout = 5 * time.Second
	c, err := cluster.Start(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Shutdown() })
	return c
}

// exchange is one recorded request and its response.
type exchange struct {
	method, path string
	status       int
	ctype        string
	body         []byte
}

// recorder is a RoundTripper that keeps a copy of every response.
type recorder struct {
	mu  sync.Mutex
	log []exchange
}

func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	ex := exchange{method: req.Method, path: req.URL.Path, status: resp.StatusCode, ctype: resp.Header.Get("Content-Type")}
	if strings.HasPrefix(ex.ctype, "text/event-stream") {
		// Streams are recorded as they are read.
		resp.Body = &teeBody{ReadCloser: resp.Body, r: r, ex: ex}
		return resp, nil
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(b))
	ex.body = b
	r.add(ex)
	return resp, nil
}

func (r *recorder) add(ex exchange) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.log = append(r.log, ex)
}

func (r *recorder) exchanges() []exchange {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.log)
}

type teeBody struct {
	io.ReadCloser
	r    *recorder
	ex   exchange
	buf  bytes.Buffer
	once sync.Once
}

func (t *teeBody) Read(p []byte) (int, error) {
	n, err := t.ReadCloser.Read(p)
	t.buf.Write(p[:n])
	return n, err
}

func (t *teeBody) Close() error {
	t.once.Do(func() {
		t.ex.body = slices.Clone(t.buf.Bytes())
		t.r.add(t.ex)
	})
	return t.ReadCloser.Close()
}

// TestClientAgainstCluster calls every method against a real server.
func TestClientAgainstCluster(t *testing.T) {
	cl := startCluster(t)
	rec := &recorder{}
	c, err := New(cl.URL(), WithHTTPClient(&http.Client{Transport: rec}), WithPollInterval(20*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	if err := c.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	doc, err := c.OpenAPI(ctx)
	if err != nil || !json.Valid(doc) {
		t.Fatalf("openapi: %v", err)
	}
	conns, err := c.ListConnectors(ctx)
	if err != nil || !slices.ContainsFunc(conns, func(c Connector) bool { return c.ID == "impulse" }) {
		t.Fatalf("connectors: %v %v", conns, err)
	}

	// Validation: a query with a problem, then a good one.
	res, err := c.ValidateQuery(ctx, ValidateQueryPost{Query: "CREATE TABLE impulse WITH (connector = 'impulse');\nSELECT countr FROM impulse;"})
	if err != nil || len(res.Errors) != 1 || res.Errors[0].Span == nil || res.Errors[0].Span.Start != (Position{Line: 2, Column: 8}) || res.Graph != nil {
		t.Fatalf("validate bad: %+v %v", res, err)
	}
	res, err = c.ValidateQuery(ctx, ValidateQueryPost{Query: doublerSQL})
	if err != nil || len(res.Errors) != 0 || res.Graph == nil || len(res.Graph.Nodes) == 0 {
		t.Fatalf("validate good: %+v %v", res, err)
	}

	// Bad SQL on create is a 400 APIError.
	_, err = c.CreatePipeline(ctx, PipelinePost{Name: "bad", Query: "SELEC 1", Parallelism: 1})
	var ae *APIError
	if !errors.As(err, &ae) || ae.StatusCode != 400 || !strings.HasPrefix(ae.Message, "Failed to plan query:") {
		t.Fatalf("bad create: %v", err)
	}

	// A pipeline through its lifecycle.
	interval := uint64(5 * time.Second / time.Microsecond)
	p, err := c.CreatePipeline(ctx, PipelinePost{Name: "doubled", Query: doublerSQL, Parallelism: 1, CheckpointIntervalMicros: &interval})
	if err != nil || !strings.HasPrefix(p.ID, "pl_") || p.CheckpointInterval() != 5*time.Second {
		t.Fatalf("create: %+v %v", p, err)
	}
	j, err := c.WaitForState(ctx, p.ID, StateRunning)
	if err != nil || j.RunID != 1 {
		t.Fatalf("wait running: %+v %v", j, err)
	}
	if _, err := c.RescalePipeline(ctx, p.ID, 2); err != nil {
		t.Fatal(err)
	}
	if j, err = c.WaitForJob(ctx, p.ID, func(j *Job) (bool, error) { return j.State == StateRunning && j.RunID > 1, nil }); err != nil {
		t.Fatal(err)
	}
	if got, _ := c.GetPipeline(ctx, p.ID); got.Graph.MaxParallelism() != 2 || j.Tasks == nil || *j.Tasks != 2 {
		t.Fatalf("rescaled: %+v, job %+v", got.Graph, j)
	}
	run := j.RunID
	if _, err := c.RestartPipeline(ctx, p.ID, PipelineRestart{}); err != nil {
		t.Fatal(err)
	}
	if _, err = c.WaitForJob(ctx, p.ID, func(j *Job) (bool, error) { return j.State == StateRunning && j.RunID > run, nil }); err != nil {
		t.Fatal(err)
	}

	// Metrics appear within a few seconds.
	var groups []OperatorMetricGroup
	for len(groups) == 0 {
		if groups, err = c.OperatorMetricGroups(ctx, p.ID, j.ID); err != nil {
			t.Fatal(err)
		}
		if len(groups) == 0 {
			time.Sleep(100 * time.Millisecond)
		}
		if ctx.Err() != nil {
			t.Fatal("no metrics")
		}
	}

	// The rescale and the safe restart each took a stopping checkpoint.
	cps, err := c.ListCheckpoints(ctx, p.ID, j.ID)
	if err != nil || len(cps) != 2 || cps[0].Epoch != 1 || cps[1].Epoch != 2 {
		t.Fatalf("checkpoints: %+v %v", cps, err)
	}
	for _, cp := range cps {
		if cp.CheckpointType != "stopping" || cp.FinishTime == nil || len(cp.Events) < 4 {
			t.Fatalf("checkpoint %+v", cp)
		}
	}
	ops, err := c.CheckpointDetails(ctx, p.ID, j.ID, 2)
	if err != nil || len(ops) != 1 || len(ops[0].Subtasks) != 2 || len(ops[0].Subtasks[0].EventSpans) < 3 || ops[0].Subtasks[0].Bytes == 0 {
		t.Fatalf("details: %+v %v", ops, err)
	}
	if _, err := c.CheckpointDetails(ctx, p.ID, j.ID, 9); !IsNotFound(err) {
		t.Fatalf("unknown epoch: %v", err)
	}

	// Listing.
	var listed []string
	for lp, err := range c.Pipelines(ctx, &ListOptions{Limit: 1}) {
		if err != nil {
			t.Fatal(err)
		}
		listed = append(listed, lp.ID)
	}
	if !slices.Contains(listed, p.ID) {
		t.Fatalf("listed %v", listed)
	}
	jobs, err := c.ListJobs(ctx)
	if err != nil || len(jobs) != 1 || jobs[0].PipelineID != p.ID {
		t.Fatalf("jobs: %+v %v", jobs, err)
	}

	// Stop, start, stop, delete.
	if err := c.DeletePipeline(ctx, p.ID); !errors.As(err, &ae) || ae.StatusCode != 400 {
		t.Fatalf("delete of a running pipeline: %v", err)
	}
	if _, err := c.StopPipeline(ctx, p.ID, StopCheckpoint); err != nil {
		t.Fatal(err)
	}
	if _, err := c.WaitForState(ctx, p.ID, StateStopped); err != nil {
		t.Fatal(err)
	}
	if _, err := c.StartPipeline(ctx, p.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := c.WaitForState(ctx, p.ID, StateRunning); err != nil {
		t.Fatal(err)
	}
	if _, err := c.PatchPipeline(ctx, p.ID, PipelinePatch{CheckpointIntervalMicros: &interval}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.StopPipeline(ctx, p.ID, StopImmediate); err != nil {
		t.Fatal(err)
	}
	if _, err := c.WaitForState(ctx, p.ID, StateStopped); err != nil {
		t.Fatal(err)
	}
	if err := c.DeletePipeline(ctx, p.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := c.GetPipeline(ctx, p.ID); !IsNotFound(err) {
		t.Fatalf("after delete: %v", err)
	}

	// A failing pipeline: its errors, then Failed.
	f, err := c.CreatePipeline(ctx, PipelinePost{Name: "failing", Query: failingSQL, Parallelism: 1})
	if err != nil {
		t.Fatal(err)
	}
	fj, err := c.WaitForState(ctx, f.ID, StateFailed)
	if err != nil || fj.FailureReason == nil {
		t.Fatalf("failing: %+v %v", fj, err)
	}
	var msgs []JobLogMessage
	for m, err := range c.JobErrors(ctx, f.ID, fj.ID, &ListOptions{Limit: 1}) {
		if err != nil {
			t.Fatal(err)
		}
		msgs = append(msgs, m)
	}
	if len(msgs) < 2 || !strings.Contains(msgs[0].Details, "divide by zero") {
		t.Fatalf("errors: %+v", msgs)
	}
	fctx, fcancel := context.WithCancel(ctx)
	n := 0
	for m, err := range c.FollowJobErrors(fctx, f.ID, fj.ID, -1) {
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 && m.ID != msgs[len(msgs)-1].ID {
			t.Fatalf("follow starts at %s, not the oldest %s", m.ID, msgs[len(msgs)-1].ID)
		}
		if n++; n == len(msgs) {
			fcancel()
		}
	}
	fcancel()
	if _, err := c.RestartPipeline(ctx, f.ID, PipelineRestart{}); err != nil {
		t.Fatal(err)
	}

	// A preview's output.
	pv, err := c.CreatePreview(ctx, PreviewPost{Query: previewSQL})
	if err != nil || !pv.Preview {
		t.Fatalf("preview: %+v %v", pv, err)
	}
	pj, err := c.WaitForState(ctx, pv.ID, StateRunning)
	if err != nil {
		t.Fatal(err)
	}
	s, err := c.OpenOutput(ctx, pv.ID, pj.ID, nil)
	if err != nil {
		t.Fatal(err)
	}
	var rows []Row
	stopped := false
	for d, err := range s.Batches() {
		if err != nil {
			t.Fatal(err)
		}
		rs, err := d.Rows()
		if err != nil {
			t.Fatal(err)
		}
		rows = append(rows, rs...)
		if len(rows) >= 5 && !stopped {
			// Stopping the preview ends the stream with its done event.
			if _, err := c.StopPipeline(ctx, pv.ID, StopImmediate); err != nil {
				t.Fatal(err)
			}
			stopped = true
		}
	}
	if !s.Done() || strings.Join(rows[0].Columns, ",") != "counter,bucket" {
		t.Fatalf("done %v, columns %v", s.Done(), rows[0].Columns)
	}
	s.Close()

	t.Run("strict decoding", func(t *testing.T) { checkStrict(t, rec.exchanges()) })
	t.Run("route coverage", func(t *testing.T) { checkCoverage(t, doc, rec.exchanges()) })
}

// responseType maps a route to the client type its success body decodes
// into; nil means no JSON body.
func responseType(method, path string) any {
	p := strings.TrimPrefix(path, "/api/v1")
	seg := strings.Split(strings.Trim(p, "/"), "/")
	switch {
	case p == "/ping":
		return new(string)
	case p == "/api-docs/openapi.json":
		return nil // its own tests cover it
	case p == "/connectors":
		return new(collection[Connector])
	case p == "/jobs":
		return new(collection[Job])
	case p == "/pipelines" && method == http.MethodGet:
		return new(Page[Pipeline])
	case p == "/pipelines/validate_query":
		return new(QueryValidationResult)
	case method == http.MethodDelete:
		return nil
	case len(seg) <= 3 && (len(seg) < 3 || seg[2] == "restart"):
		return new(Pipeline)
	case len(seg) == 3 && seg[2] == "jobs":
		return new(collection[Job])
	case strings.HasSuffix(p, "/errors"):
		return new(Page[JobLogMessage])
	case strings.HasSuffix(p, "/checkpoints"):
		return new(collection[Checkpoint])
	case strings.HasSuffix(p, "/operator_checkpoint_groups"):
		return new(collection[OperatorCheckpointGroup])
	case strings.HasSuffix(p, "/operator_metric_groups"):
		return new(collection[OperatorMetricGroup])
	case strings.HasSuffix(p, "/output"):
		return new(OutputData)
	}
	return nil
}

// checkStrict decodes every recorded body into the client's types with
// unknown fields disallowed, then checks that encoding it again gives the
// same JSON: a field the server added or one the client invented fails.
func checkStrict(t *testing.T, log []exchange) {
	seen := map[string]bool{}
	for _, ex := range log {
		if ex.status >= 400 {
			var e errorBody
			strictDecode(t, ex, ex.body, &e)
			continue
		}
		typ := responseType(ex.method, ex.path)
		if typ == nil {
			continue
		}
		name := reflect.TypeOf(typ).Elem().String()
		seen[name] = true
		if strings.HasSuffix(ex.path, "/output") {
			sc := bufio.NewScanner(bytes.NewReader(ex.body))
			sc.Buffer(nil, 1<<20)
			events := 0
			for sc.Scan() {
				if data, ok := strings.CutPrefix(sc.Text(), "data: "); ok && !strings.HasPrefix(data, `{"dropped"`) {
					strictDecode(t, ex, []byte(data), new(OutputData))
					events++
				}
			}
			if events == 0 {
				t.Errorf("%s %s: no events recorded", ex.method, ex.path)
			}
			continue
		}
		strictDecode(t, ex, ex.body, typ)
	}
	for _, want := range []string{"client.Pipeline", "client.Page[github.com/runnel-dev/runnel/pkg/client.Pipeline]",
		"client.collection[github.com/runnel-dev/runnel/pkg/client.Job]", "client.QueryValidationResult",
		"client.Page[github.com/runnel-dev/runnel/pkg/client.JobLogMessage]",
		"client.collection[github.com/runnel-dev/runnel/pkg/client.Checkpoint]",
		"client.collection[github.com/runnel-dev/runnel/pkg/client.OperatorCheckpointGroup]",
		"client.collection[github.com/runnel-dev/runnel/pkg/client.OperatorMetricGroup]",
		"client.collection[github.com/runnel-dev/runnel/pkg/client.Connector]", "client.OutputData"} {
		if !seen[want] {
			t.Errorf("no response decoded as %s", want)
		}
	}
}

func strictDecode(t *testing.T, ex exchange, body []byte, v any) {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		t.Errorf("%s %s: decoding %.300s into %T: %v", ex.method, ex.path, body, v, err)
		return
	}
	again, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var a, b any
	_ = json.Unmarshal(body, &a)
	_ = json.Unmarshal(again, &b)
	if !reflect.DeepEqual(a, b) {
		t.Errorf("%s %s: %T does not round-trip:\nserver %.600s\nclient %.600s", ex.method, ex.path, v, body, again)
	}
}

// checkCoverage requires a recorded call of every operation of the
// OpenAPI document: a route added to the server without a client method
// fails here.
func checkCoverage(t *testing.T, doc []byte, log []exchange) {
	var d struct {
		Paths map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(doc, &d); err != nil {
		t.Fatal(err)
	}
	var missing []string
	for path, ops := range d.Paths {
		re := regexp.MustCompile("^" + regexp.MustCompile(`\\\{[^}]+\\\}`).ReplaceAllString(regexp.QuoteMeta(path), `[^/]+`) + "$")
		for method := range ops {
			found := slices.ContainsFunc(log, func(ex exchange) bool {
				p := ex.path
				if !strings.HasPrefix(path, "/api/v1") {
					p = strings.TrimPrefix(p, "/api/v1")
				}
				return strings.EqualFold(ex.method, method) && re.MatchString(p)
			})
			if !found {
				missing = append(missing, strings.ToUpper(method)+" "+path)
			}
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Errorf("operations the client never called: %v", missing)
	}
	if len(d.Paths) < 10 {
		t.Errorf("only %d paths in the document", len(d.Paths))
	}
}

// schemaOf maps the OpenAPI document's schema names to the client's types.
var schemaOf = map[string]any{
	"Checkpoint":              Checkpoint{},
	"CheckpointEventSpan":     CheckpointEventSpan{},
	"Connector":               Connector{},
	"EdgeView":                GraphEdge{},
	"ErrorBody":               errorBody{},
	"FailureReason":           FailureReason{},
	"GraphView":               Graph{},
	"Group":                   MetricGroup{},
	"Job":                     Job{},
	"JobLogMessage":           JobLogMessage{},
	"NodeView":                GraphNode{},
	"OperatorCheckpointGroup": OperatorCheckpointGroup{},
	"OperatorGroup":           OperatorMetricGroup{},
	"Pipeline":                Pipeline{},
	"PipelinePatch":           PipelinePatch{},
	"PipelinePost":            PipelinePost{},
	"PipelineRestart":         PipelineRestart{},
	"Point":                   Metric{},
	"Position":                Position{},
	"PreviewPost":             PreviewPost{},
	"QueryValidationResult":   QueryValidationResult{},
	"SQLDiagnostic":           SQLDiagnostic{},
	"Span":                    Span{},
	"SubtaskCheckpointGroup":  SubtaskCheckpointGroup{},
	"SubtaskMetrics":          SubtaskMetrics{},
	"UDF":                     UDF{},
	"ValidateQueryPost":       ValidateQueryPost{},
}

// TestTypesMatchOpenAPI compares every schema of the server's OpenAPI
// document with the client type that mirrors it: the same JSON fields,
// and for request bodies the same required fields (those the client
// always sends).
func TestTypesMatchOpenAPI(t *testing.T) {
	cl := startCluster(t)
	c, err := New(cl.URL())
	if err != nil {
		t.Fatal(err)
	}
	raw, err := c.OpenAPI(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Components struct {
			Schemas map[string]struct {
				Properties map[string]json.RawMessage `json:"properties"`
				Required   []string                   `json:"required"`
			} `json:"schemas"`
		} `json:"components"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	for name, s := range doc.Components.Schemas {
		v, ok := schemaOf[name]
		if !ok {
			t.Errorf("schema %s has no client type", name)
			continue
		}
		fields, always := jsonFields(reflect.TypeOf(v))
		var props []string
		for p := range s.Properties {
			props = append(props, p)
		}
		sort.Strings(props)
		sort.Strings(fields)
		if !slices.Equal(props, fields) {
			t.Errorf("%s: server fields %v, client %T fields %v", name, props, v, fields)
		}
		if strings.HasSuffix(name, "Post") || strings.HasSuffix(name, "Patch") || strings.HasSuffix(name, "Restart") {
			req := slices.Clone(s.Required)
			sort.Strings(req)
			sort.Strings(always)
			if !slices.Equal(req, always) {
				t.Errorf("%s: server requires %v, client %T always sends %v", name, req, v, always)
			}
		}
	}
	for name := range schemaOf {
		if _, ok := doc.Components.Schemas[name]; !ok {
			t.Errorf("client maps schema %s, which the server no longer has", name)
		}
	}
}

// jsonFields lists a struct's JSON field names and those without
// omitempty.
func jsonFields(t reflect.Type) (all, always []string) {
	for i := range t.NumField() {
		f := t.Field(i)
		tag, ok := f.Tag.Lookup("json")
		if !ok || tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		all = append(all, name)
		if !strings.Contains(opts, "omitempty") {
			always = append(always, name)
		}
	}
	return all, always
}
