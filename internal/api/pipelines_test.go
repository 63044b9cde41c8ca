package api

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/runnel-dev/runnel/internal/lifecycle"
	"github.com/runnel-dev/runnel/internal/store"
)

func TestPingAndConnectors(t *testing.T) {
	e := newEnv(t)
	r := e.must(http.StatusOK, http.MethodGet, "/api/v1/ping", "", nil)
	if string(r.body) != `"Pong"` {
		t.Errorf("ping body %s", r.body)
	}
	var cs Collection[Connector]
	e.must(http.StatusOK, http.MethodGet, "/api/v1/connectors", "", &cs)
	if len(cs.Data) != 1 || cs.Data[0].ID != "impulse" || cs.Data[0].ConnectionConfig != nil {
		t.Errorf("connectors %+v", cs.Data)
	}
	if !strings.Contains(string(r.header.Get("Content-Type")), "application/json") {
		t.Errorf("content type %q", r.header.Get("Content-Type"))
	}
}

func TestCreateGetListPipeline(t *testing.T) {
	e := newEnv(t)
	body := `{"name":"orders","query":"SELECT * FROM impulse","parallelism":3,"udfs":[{"definition":"fn f() {}"}]}`
	var p Pipeline
	raw := e.must(http.StatusOK, http.MethodPost, "/api/v1/pipelines", body, &p)
	if !regexp.MustCompile(`^pl_[0-9A-Za-z]{10}$`).MatchString(p.ID) {
		t.Errorf("id %q", p.ID)
	}
	if p.Name != "orders" || p.Query != "SELECT * FROM impulse" || p.Preview || p.Stop != "none" {
		t.Errorf("pipeline %+v", p)
	}
	if p.CheckpointIntervalMicros != 10_000_000 {
		t.Errorf("checkpoint interval %d, want the 10 s default", p.CheckpointIntervalMicros)
	}
	if len(p.UDFs) != 1 || p.UDFs[0].Language != "rust" {
		t.Errorf("udfs %+v", p.UDFs)
	}
	// Created with running desired: the button offers Stop, in progress.
	if p.Action == nil || *p.Action != "checkpoint" || p.ActionText != "Stop" || !p.ActionInProgress {
		t.Errorf("action %v %q %v", p.Action, p.ActionText, p.ActionInProgress)
	}
	if len(p.Graph.Nodes) != 3 || len(p.Graph.Edges) != 2 {
		t.Fatalf("graph %+v", p.Graph)
	}
	for _, n := range p.Graph.Nodes {
		if n.Parallelism != 3 {
			t.Errorf("node %d parallelism %d, want 3", n.NodeID, n.Parallelism)
		}
	}
	if p.CreatedAt < time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixMicro() {
		t.Errorf("created_at %d is not in microseconds", p.CreatedAt)
	}
	// Wire names are HEAD's snake_case; no camelCase leaks.
	for _, k := range []string{`"checkpoint_interval_micros"`, `"action_text"`, `"action_in_progress"`, `"created_at"`, `"node_id"`} {
		if !strings.Contains(string(raw.body), k) {
			t.Errorf("body lacks %s: %s", k, raw.body)
		}
	}

	var got Pipeline
	e.must(http.StatusOK, http.MethodGet, "/api/v1/pipelines/"+p.ID, "", &got)
	if got.ID != p.ID || got.CreatedAt != p.CreatedAt {
		t.Errorf("get %+v", got)
	}

	var list PaginatedCollection[Pipeline]
	e.must(http.StatusOK, http.MethodGet, "/api/v1/pipelines", "", &list)
	if len(list.Data) != 1 || list.HasMore || list.Data[0].ID != p.ID {
		t.Errorf("list %+v", list)
	}

	j := e.jobOf(p)
	if !strings.HasPrefix(j.ID, "job_") || j.PipelineID != p.ID || j.State != "Created" || !j.RunningDesired || j.RunID != 0 {
		t.Errorf("job %+v", j)
	}
	if j.Action == nil || *j.Action != "checkpoint" || j.ActionText != "Stop" || !j.ActionInProgress {
		t.Errorf("job action %v %q %v", j.Action, j.ActionText, j.ActionInProgress)
	}
	if j.StartTime != nil || j.FinishTime != nil || j.Tasks != nil || j.FailureReason != nil {
		t.Errorf("fresh job has times/tasks/failure: %+v", j)
	}

	var jobs Collection[Job]
	e.must(http.StatusOK, http.MethodGet, "/api/v1/jobs", "", &jobs)
	if len(jobs.Data) != 1 || jobs.Data[0].ID != j.ID {
		t.Errorf("jobs %+v", jobs)
	}

	e.must(http.StatusNotFound, http.MethodGet, "/api/v1/pipelines/pl_nope", "", nil)
	if msg := e.req(http.MethodGet, "/api/v1/pipelines/pl_nope", "").errMsg(t); msg != "Pipeline not found" {
		t.Errorf("message %q", msg)
	}
	if msg := e.req(http.MethodGet, "/api/v1/pipelines/pl_nope/jobs", "").errMsg(t); msg != "Pipeline not found" {
		t.Errorf("message %q", msg)
	}
}

func TestJobFieldsFromStatus(t *testing.T) {
	e := newEnv(t)
	p := e.create("p", 1)
	j := e.jobOf(p)
	start := time.Date(2026, 12, 1, 13, 0, 0, 0, time.UTC)
	finish := start.Add(time.Minute)
	tasks := 4
	e.setState(j.ID, store.JobStatus{
		State: lifecycle.Failed, RunID: 3, StartTime: &start, FinishTime: &finish, Tasks: &tasks,
		Failure: &store.Failure{Error: "boom"},
	})
	j = e.jobOf(p)
	if j.State != "Failed" || j.RunID != 3 || *j.StartTime != start.UnixMicro() || *j.FinishTime != finish.UnixMicro() || *j.Tasks != 4 {
		t.Errorf("job %+v", j)
	}
	if j.FailureReason == nil || j.FailureReason.Error != "boom" || j.FailureReason.Domain != "internal" {
		t.Errorf("failure %+v", j.FailureReason)
	}
	if j.Action != nil || j.ActionText != "Failed" || j.ActionInProgress {
		t.Errorf("failed job action %v %q %v", j.Action, j.ActionText, j.ActionInProgress)
	}
}

func TestCreateRejectsBadInput(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.MaxBodyBytes = 4096 })
	e.create("existing", 1)
	before := e.snapshot()

	valid := func(mod func(m map[string]any)) string {
		m := map[string]any{"name": "x", "query": "SELECT 1", "parallelism": 1}
		mod(m)
		b, _ := json.Marshal(m)
		return string(b)
	}
	cases := []struct {
		name    string
		body    string
		ctype   string // "-" sends none
		status  int
		message string // substring, or exact when prefixed with "="
	}{
		{"malformed", `{"name": "x",`, "", 400, "Failed to parse the request body as JSON"},
		{"trailing garbage", `{"name":"x"} {}`, "", 400, "Failed to parse"},
		{"empty body", ``, "application/json", 400, "Failed to parse"},
		{"no content type", valid(func(map[string]any) {}), "-", 415, "Content-Type: application/json"},
		{"text content type", valid(func(map[string]any) {}), "text/plain", 415, "Content-Type: application/json"},
		{"too large", valid(func(m map[string]any) { m["query"] = strings.Repeat("x", 5000) }), "", 413, "limit of 4096 bytes"},
		{"not an object", `[1,2]`, "", 422, "expected a JSON object"},
		{"unknown field", valid(func(m map[string]any) { m["colour"] = "red" }), "", 422, "unknown field `colour`"},
		{"field name case", `{"Name":"x","query":"q","parallelism":1}`, "", 422, "unknown field `Name`"},
		{"camelCase field", valid(func(m map[string]any) { m["checkpointIntervalMicros"] = 5 }), "", 422, "unknown field `checkpointIntervalMicros`"},
		{"missing name", `{"query":"q","parallelism":1}`, "", 422, "missing field `name`"},
		{"missing query", `{"name":"x","parallelism":1}`, "", 422, "missing field `query`"},
		{"missing parallelism", `{"name":"x","query":"q"}`, "", 422, "missing field `parallelism`"},
		{"null name", `{"name":null,"query":"q","parallelism":1}`, "", 422, "field `name` must not be null"},
		{"name wrong type", valid(func(m map[string]any) { m["name"] = 5 }), "", 422, "`name`: invalid type"},
		{"parallelism string", valid(func(m map[string]any) { m["parallelism"] = "2" }), "", 422, "`parallelism`"},
		{"parallelism negative", valid(func(m map[string]any) { m["parallelism"] = -1 }), "", 422, "`parallelism`"},
		{"parallelism fraction", valid(func(m map[string]any) { m["parallelism"] = 1.5 }), "", 422, "`parallelism`"},
		{"udf unknown field", valid(func(m map[string]any) { m["udfs"] = []any{map[string]any{"definition": "d", "lang": "rust"}} }), "", 422, `"lang"`},
		{"udf language", valid(func(m map[string]any) { m["udfs"] = []any{map[string]any{"definition": "d", "language": "cobol"}} }), "", 422, "unknown variant `cobol`"},
		{"parallelism zero", valid(func(m map[string]any) { m["parallelism"] = 0 }), "", 400, "=Field parallelism must be at least 1"},
		{"empty name", valid(func(m map[string]any) { m["name"] = "" }), "", 400, "=Field name must be set"},
		{"interval too short", valid(func(m map[string]any) { m["checkpoint_interval_micros"] = 999_999 }), "", 400, "=Checkpoint_interval_micros must be between 1 second and 1 day."},
		{"interval too long", valid(func(m map[string]any) { m["checkpoint_interval_micros"] = 86_400_000_001 }), "", 400, "=Checkpoint_interval_micros must be between 1 second and 1 day."},
		{"bad sql", valid(func(m map[string]any) { m["query"] = "SELECT ERROR" }), "", 400, "=Failed to plan query:\n * no such table: nope\n * second problem"},
		{"planner failure", valid(func(m map[string]any) { m["query"] = "SELECT INTERNAL" }), "", 500, "=Something went wrong"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var headers []string
			switch c.ctype {
			case "-":
				headers = []string{"Content-Type", ""}
			case "":
			default:
				headers = []string{"Content-Type", c.ctype}
			}
			var r response
			if c.body == "" {
				r = e.rawPost("/api/v1/pipelines", c.ctype)
			} else {
				r = e.req(http.MethodPost, "/api/v1/pipelines", c.body, headers...)
			}
			if r.status != c.status {
				t.Fatalf("status %d, want %d; body %s", r.status, c.status, r.body)
			}
			msg := r.errMsg(t)
			if exact, ok := strings.CutPrefix(c.message, "="); ok {
				if msg != exact {
					t.Errorf("message %q, want %q", msg, exact)
				}
			} else if !strings.Contains(msg, c.message) {
				t.Errorf("message %q does not contain %q", msg, c.message)
			}
		})
	}
	if after := e.snapshot(); after != before {
		t.Errorf("store changed by rejected requests:\nbefore %s\nafter  %s", before, after)
	}
	if !strings.Contains(e.logs.String(), "planner crashed") {
		t.Errorf("internal error not logged: %s", e.logs.String())
	}
}

// rawPost sends an empty body with the given content type.
func (e *env) rawPost(path, ctype string) response {
	e.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, e.srv.URL+path, http.NoBody)
	req.Header.Set("Content-Type", ctype)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	out := response{status: resp.StatusCode, header: resp.Header, body: raw}
	e.validate(req, out)
	return out
}

func TestPreview(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.Limits.MaxRunningJobs = 1; c.PreviewTTL = 30 * time.Second })
	e.create("regular", 1) // takes the only running slot
	var p Pipeline
	e.must(http.StatusOK, http.MethodPost, "/api/v1/pipelines/preview", `{"query":"SELECT * FROM impulse"}`, &p)
	if !p.Preview || p.CheckpointIntervalMicros != uint64((24*time.Hour).Microseconds()) {
		t.Errorf("preview %+v", p)
	}
	m := regexp.MustCompile(`^preview_(\d+)$`).FindStringSubmatch(p.Name)
	if m == nil {
		t.Fatalf("name %q", p.Name)
	}
	if ms, _ := strconv.ParseInt(m[1], 10, 64); ms != p.CreatedAt/1000 {
		t.Errorf("name millis %d, created_at %d µs", ms, p.CreatedAt)
	}
	for _, n := range p.Graph.Nodes {
		if n.Parallelism != 1 {
			t.Errorf("preview node %d parallelism %d", n.NodeID, n.Parallelism)
		}
	}
	if p.Graph.Nodes[len(p.Graph.Nodes)-1].Operator != "sink:preview" {
		t.Errorf("no preview sink: %+v", p.Graph)
	}
	stored, err := e.store.GetPipeline(context.Background(), store.DefaultOrg, p.ID)
	if err != nil {
		t.Fatal(err)
	}
	if stored.Job.Config.TTL != 30*time.Second || !stored.Preview {
		t.Errorf("stored preview config %+v", stored.Job.Config)
	}

	var withSinks Pipeline
	e.must(http.StatusOK, http.MethodPost, "/api/v1/pipelines/preview", `{"query":"SELECT 1","enable_sinks":true}`, &withSinks)
	if len(withSinks.Graph.Nodes) != 4 {
		t.Errorf("enable_sinks graph %+v", withSinks.Graph)
	}

	// Hidden from the lists.
	var list PaginatedCollection[Pipeline]
	e.must(http.StatusOK, http.MethodGet, "/api/v1/pipelines", "", &list)
	var jobs Collection[Job]
	e.must(http.StatusOK, http.MethodGet, "/api/v1/jobs", "", &jobs)
	if len(list.Data) != 1 || len(jobs.Data) != 1 || list.Data[0].Preview {
		t.Errorf("previews listed: %d pipelines, %d jobs", len(list.Data), len(jobs.Data))
	}
	// But reachable directly.
	e.must(http.StatusOK, http.MethodGet, "/api/v1/pipelines/"+p.ID, "", nil)

	before := e.snapshot()
	for _, c := range []struct {
		body   string
		status int
		msg    string
	}{
		{`{}`, 422, "missing field `query`"},
		{`{"query":"q","name":"n"}`, 422, "unknown field `name`"},
		{`{"query":"q","enable_sinks":"yes"}`, 422, "`enable_sinks`"},
		{`{"query":"ERROR"}`, 400, "Failed to plan query:\n * no such table: nope"},
	} {
		r := e.req(http.MethodPost, "/api/v1/pipelines/preview", c.body)
		if r.status != c.status || !strings.Contains(r.errMsg(t), c.msg) {
			t.Errorf("%s: %d %s", c.body, r.status, r.body)
		}
	}
	if e.snapshot() != before {
		t.Error("rejected previews changed the store")
	}
}

func TestValidateQuery(t *testing.T) {
	e := newEnv(t)
	before := e.snapshot()
	var ok QueryValidationResult
	r := e.must(http.StatusOK, http.MethodPost, "/api/v1/pipelines/validate_query", `{"query":"SELECT 1"}`, &ok)
	if ok.Graph == nil || len(ok.Graph.Nodes) != 3 || len(ok.Errors) != 0 || !strings.Contains(string(r.body), `"errors":[]`) {
		t.Errorf("valid query: %s", r.body)
	}
	var bad QueryValidationResult
	r = e.must(http.StatusOK, http.MethodPost, "/api/v1/pipelines/validate_query", `{"query":"SELECT ERROR"}`, &bad)
	if bad.Graph != nil || len(bad.Errors) != 2 || !strings.Contains(string(r.body), `"graph":null`) {
		t.Fatalf("invalid query: %s", r.body)
	}
	if bad.Errors[0].Message != "no such table: nope" || bad.Errors[0].Span == nil || bad.Errors[0].Span.Start.Column != 15 {
		t.Errorf("first diagnostic %+v", bad.Errors[0])
	}
	if strings.Count(string(r.body), `"span"`) != 1 {
		t.Errorf("span must be omitted when absent: %s", r.body)
	}
	if r := e.req(http.MethodPost, "/api/v1/pipelines/validate_query", `{"sql":"x"}`); r.status != 422 {
		t.Errorf("unknown field: %d", r.status)
	}
	if e.snapshot() != before {
		t.Error("validate_query changed the store")
	}
}

func TestPagination(t *testing.T) {
	e := newEnv(t)
	var want []string // newest first
	for i := range 23 {
		p := e.create(fmt.Sprintf("p%02d", i), 1)
		want = append([]string{p.ID}, want...)
	}
	var got []string
	cursor := ""
	for pages := 0; ; pages++ {
		path := "/api/v1/pipelines?limit=10"
		if cursor != "" {
			path += "&starting_after=" + cursor
		}
		var page PaginatedCollection[Pipeline]
		e.must(http.StatusOK, http.MethodGet, path, "", &page)
		for _, p := range page.Data {
			got = append(got, p.ID)
		}
		wantMore := pages < 2
		if page.HasMore != wantMore {
			t.Errorf("page %d hasMore %v", pages, page.HasMore)
		}
		if !page.HasMore {
			if len(page.Data) != 3 {
				t.Errorf("last page has %d items", len(page.Data))
			}
			break
		}
		cursor = page.Data[len(page.Data)-1].ID
	}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("pages out of order:\n got %v\nwant %v", got, want)
	}

	var def PaginatedCollection[Pipeline]
	e.must(http.StatusOK, http.MethodGet, "/api/v1/pipelines", "", &def)
	if len(def.Data) != 10 || !def.HasMore {
		t.Errorf("default page: %d items, hasMore %v", len(def.Data), def.HasMore)
	}
	var exact PaginatedCollection[Pipeline]
	e.must(http.StatusOK, http.MethodGet, "/api/v1/pipelines?limit=23", "", &exact)
	if len(exact.Data) != 23 || exact.HasMore {
		t.Errorf("limit=23: %d items, hasMore %v", len(exact.Data), exact.HasMore)
	}
	var unknown PaginatedCollection[Pipeline]
	e.must(http.StatusOK, http.MethodGet, "/api/v1/pipelines?starting_after=pl_unknown", "", &unknown)
	if len(unknown.Data) != 0 || unknown.HasMore {
		t.Errorf("unknown cursor: %+v", unknown)
	}

	for _, q := range []string{"limit=0", "limit=abc", "limit=-1", "limit=1.5", "limit=99999999999"} {
		r := e.req(http.MethodGet, "/api/v1/pipelines?"+q, "")
		if r.status != http.StatusBadRequest {
			t.Errorf("%s: status %d", q, r.status)
		}
		if q == "limit=0" && r.errMsg(t) != "Limit must be greater than 0" {
			t.Errorf("limit=0 message %q", r.errMsg(t))
		}
	}
}

func TestPatchPipeline(t *testing.T) {
	e := newEnv(t)
	p := e.create("p", 2)
	path := "/api/v1/pipelines/" + p.ID

	var stopped Pipeline
	e.must(http.StatusOK, http.MethodPatch, path, `{"stop":"checkpoint"}`, &stopped)
	// Still Created (the controller has not acted): offer Start.
	if stopped.Stop != "checkpoint" || stopped.Action == nil || *stopped.Action != "none" || stopped.ActionText != "Start" {
		t.Errorf("after stop: %+v", stopped)
	}
	j := e.jobOf(p)
	if j.RunningDesired || j.ActionText != "Start" {
		t.Errorf("job after stop: %+v", j)
	}
	for _, m := range []string{"graceful", "immediate", "force", "none"} {
		var got Pipeline
		e.must(http.StatusOK, http.MethodPatch, path, `{"stop":"`+m+`"}`, &got)
		if got.Stop != m {
			t.Errorf("stop %s: got %q", m, got.Stop)
		}
	}

	var scaled Pipeline
	e.must(http.StatusOK, http.MethodPatch, path, `{"parallelism":5}`, &scaled)
	for _, n := range scaled.Graph.Nodes {
		if n.Parallelism != 5 {
			t.Errorf("node %d parallelism %d after rescale", n.NodeID, n.Parallelism)
		}
	}
	stored, _ := e.store.GetPipeline(context.Background(), store.DefaultOrg, p.ID)
	if len(stored.Job.Config.ParallelismOverrides) != 3 || stored.Job.Config.ParallelismOverrides[2] != 5 {
		t.Errorf("overrides %v", stored.Job.Config.ParallelismOverrides)
	}

	var iv Pipeline
	e.must(http.StatusOK, http.MethodPatch, path, `{"checkpoint_interval_micros":2000000}`, &iv)
	if iv.CheckpointIntervalMicros != 2_000_000 || iv.Stop != "none" || iv.Graph.Nodes[0].Parallelism != 5 {
		t.Errorf("interval patch changed other fields or failed: %+v", iv)
	}
	e.must(http.StatusOK, http.MethodPatch, path, `{}`, nil)

	before := e.snapshot()
	for _, c := range []struct {
		path, body string
		status     int
		msg        string
	}{
		{path, `{"stop":"pause"}`, 422, "stop: unknown stop mode"},
		{path, `{"stop":5}`, 422, "`stop`"},
		{path, `{"parallelism":0}`, 400, "=Field parallelism must be at least 1"},
		{path, `{"parallelism":-2}`, 422, "`parallelism`"},
		{path, `{"checkpoint_interval_micros":10}`, 400, "=checkpoint_interval_micros must be between 1 second and 1 day"},
		{path, `{"checkpoint_interval_micros":86400000001}`, 400, "=checkpoint_interval_micros must be between 1 second and 1 day"},
		{path, `{"stop":"none","env_vars":{}}`, 422, "unknown field `env_vars`"},
		{path, `{"stop":"none"`, 400, "Failed to parse"},
		{"/api/v1/pipelines/pl_nope", `{"stop":"none"}`, 404, "=Pipeline not found"},
	} {
		r := e.req(http.MethodPatch, c.path, c.body)
		msg := r.errMsg(t)
		exact, isExact := strings.CutPrefix(c.msg, "=")
		if r.status != c.status || (isExact && msg != exact) || (!isExact && !strings.Contains(msg, c.msg)) {
			t.Errorf("PATCH %s: %d %q, want %d %q", c.body, r.status, msg, c.status, c.msg)
		}
	}
	if r := e.req(http.MethodPatch, path, `{"stop":"none"}`, "Content-Type", ""); r.status != 415 {
		t.Errorf("no content type: %d", r.status)
	}
	if e.snapshot() != before {
		t.Error("rejected patches changed the store")
	}
}

func TestRestartPipeline(t *testing.T) {
	e := newEnv(t)
	p := e.create("p", 1)
	path := "/api/v1/pipelines/" + p.ID + "/restart"
	before := e.snapshot()
	if r := e.req(http.MethodPost, path, ""); r.status != http.StatusUnsupportedMediaType {
		t.Errorf("restart without body: %d %s", r.status, r.body)
	}
	if r := e.rawPost(path, "application/json"); r.status != http.StatusBadRequest {
		t.Errorf("restart with empty JSON body: %d %s", r.status, r.body)
	}
	if r := e.req(http.MethodPost, path, `{"force":"yes"}`); r.status != 422 {
		t.Errorf("restart force string: %d", r.status)
	}
	if r := e.req(http.MethodPost, path, `{"ignore_state":true}`); r.status != 400 {
		t.Errorf("restart ignore_state: %d", r.status)
	}
	if r := e.req(http.MethodPost, "/api/v1/pipelines/pl_nope/restart", `{}`); r.status != 404 || r.errMsg(t) != "Pipeline not found" {
		t.Errorf("restart unknown: %d %s", r.status, r.body)
	}
	if e.snapshot() != before {
		t.Error("rejected restarts changed the store")
	}

	var got Pipeline
	e.must(http.StatusOK, http.MethodPost, path, `{}`, &got)
	if got.ID != p.ID {
		t.Errorf("restart returned %+v", got)
	}
	stored, _ := e.store.GetPipeline(context.Background(), store.DefaultOrg, p.ID)
	if stored.Job.Config.RestartNonce != 1 || stored.Job.Config.RestartMode != store.RestartSafe {
		t.Errorf("after safe restart: %+v", stored.Job.Config)
	}
	e.must(http.StatusOK, http.MethodPost, path, `{"force":true,"ignore_state":false}`, nil)
	stored, _ = e.store.GetPipeline(context.Background(), store.DefaultOrg, p.ID)
	if stored.Job.Config.RestartNonce != 2 || stored.Job.Config.RestartMode != store.RestartForce {
		t.Errorf("after force restart: %+v", stored.Job.Config)
	}
}

func TestDeletePipeline(t *testing.T) {
	e := newEnv(t)
	p := e.create("p", 1)
	path := "/api/v1/pipelines/" + p.ID
	before := e.snapshot()
	r := e.req(http.MethodDelete, path, "")
	if r.status != 400 || r.errMsg(t) != "Pipeline's jobs must be in a terminal state (stopped, finished, or failed) before it can be deleted" {
		t.Errorf("delete running: %d %s", r.status, r.body)
	}
	if e.snapshot() != before {
		t.Error("rejected delete changed the store")
	}
	j := e.jobOf(p)
	e.setState(j.ID, store.JobStatus{State: lifecycle.Stopped})
	r = e.must(http.StatusOK, http.MethodDelete, path, "", nil)
	if len(r.body) != 0 {
		t.Errorf("delete body %q, want empty", r.body)
	}
	if r := e.req(http.MethodGet, path, ""); r.status != 404 {
		t.Errorf("get after delete: %d", r.status)
	}
	if r := e.req(http.MethodDelete, path, ""); r.status != 404 || r.errMsg(t) != "Pipeline not found" {
		t.Errorf("second delete: %d %s", r.status, r.body)
	}
}

func TestRunningJobLimit(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.Limits.MaxRunningJobs = 2 })
	a := e.create("a", 1)
	b := e.create("b", 1)
	overLimit := func(what string, r response) {
		t.Helper()
		if r.status != 400 || !strings.Contains(r.errMsg(t), "max_running_jobs = 2") {
			t.Fatalf("%s over the limit: %d %s", what, r.status, r.body)
		}
	}

	// Create beyond the limit (exactly 2, not Arroyo's 3): rejected,
	// nothing written.
	before := e.snapshot()
	overLimit("create", e.req(http.MethodPost, "/api/v1/pipelines", `{"name":"c","query":"SELECT 1","parallelism":1}`))
	if e.snapshot() != before {
		t.Fatal("rejected create wrote to the store")
	}

	// a fails: it no longer holds a slot, so c fits.
	e.setState(e.jobOf(a).ID, store.JobStatus{State: lifecycle.Failed})
	c := e.create("c", 1)

	// Restarting a would make three.
	before = e.snapshot()
	overLimit("restart", e.req(http.MethodPost, "/api/v1/pipelines/"+a.ID+"/restart", `{}`))
	if e.snapshot() != before {
		t.Fatal("rejected restart wrote to the store")
	}

	// b is stopped, d takes its slot, and starting b again is refused.
	e.must(http.StatusOK, http.MethodPatch, "/api/v1/pipelines/"+b.ID, `{"stop":"checkpoint"}`, nil)
	e.setState(e.jobOf(b).ID, store.JobStatus{State: lifecycle.Stopped})
	e.create("d", 1)
	before = e.snapshot()
	overLimit("start", e.req(http.MethodPatch, "/api/v1/pipelines/"+b.ID, `{"stop":"none"}`))
	if e.snapshot() != before {
		t.Fatal("rejected start wrote to the store")
	}
	// Other changes to a stopped pipeline still work at the limit.
	e.must(http.StatusOK, http.MethodPatch, "/api/v1/pipelines/"+b.ID, `{"checkpoint_interval_micros":5000000}`, nil)
	// A job that already holds a slot restarts freely.
	e.must(http.StatusOK, http.MethodPost, "/api/v1/pipelines/"+c.ID+"/restart", `{}`, nil)
	// Previews never count.
	e.must(http.StatusOK, http.MethodPost, "/api/v1/pipelines/preview", `{"query":"SELECT 1"}`, nil)
}

func TestSizeLimits(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.Limits.MaxParallelism = 4; c.Limits.MaxOperators = 2 })
	before := e.snapshot()
	r := e.req(http.MethodPost, "/api/v1/pipelines", `{"name":"a","query":"SELECT 1","parallelism":5}`)
	if r.status != 400 || !strings.Contains(r.errMsg(t), "max_parallelism") {
		t.Errorf("parallelism over limit: %d %s", r.status, r.body)
	}
	r = e.req(http.MethodPost, "/api/v1/pipelines", `{"name":"a","query":"SELECT 1","parallelism":1}`)
	if r.status != 400 || !strings.Contains(r.errMsg(t), "max_operators") {
		t.Errorf("operators over limit: %d %s", r.status, r.body)
	}
	if e.snapshot() != before {
		t.Error("rejected creates wrote to the store")
	}
}

func TestRoutingErrors(t *testing.T) {
	e := newEnv(t)
	for _, path := range []string{"/api/v1/nope", "/api/v1/pipelines/a/b/c/d/e/f", "/api/v2/ping", "/"} {
		r := e.req(http.MethodGet, path, "")
		if r.status != 404 || r.errMsg(t) != "Route not found" {
			t.Errorf("GET %s: %d %s", path, r.status, r.body)
		}
	}
	r := e.req(http.MethodPut, "/api/v1/ping", "{}")
	if r.status != http.StatusMethodNotAllowed || r.errMsg(t) == "" || r.header.Get("Allow") != "GET" {
		t.Errorf("PUT /ping: %d %s allow=%q", r.status, r.body, r.header.Values("Allow"))
	}
	r = e.req(http.MethodPost, "/api/v1/pipelines/pl_x", "{}")
	if r.status != http.StatusMethodNotAllowed || !strings.Contains(r.header.Get("Allow"), "GET") {
		t.Errorf("POST /pipelines/{id}: %d allow=%v", r.status, r.header.Values("Allow"))
	}
}

func TestPanicBecomes500(t *testing.T) {
	e := newEnv(t, func(c *Config) {
		c.Planner = func(context.Context, string, PlanOptions) (Program, error) { panic("kaboom") }
	})
	r := e.req(http.MethodPost, "/api/v1/pipelines/validate_query", `{"query":"x"}`)
	if r.status != 500 || r.errMsg(t) != "Something went wrong" {
		t.Errorf("panic: %d %s", r.status, r.body)
	}
	if !strings.Contains(e.logs.String(), "kaboom") {
		t.Error("panic not logged")
	}
}
