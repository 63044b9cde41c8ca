package cluster

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/runnel-dev/runnel/internal/config"
	"github.com/runnel-dev/runnel/internal/output"
)

func testConfig(t *testing.T, dataDir string) config.Config {
	t.Helper()
	cfg := config.Defaults()
	cfg.HTTPAddr = "127.0.0.1:0"
	cfg.DataDir = dataDir
	cfg.DatabaseURL = "sqlite://" + filepath.Join(dataDir, "runnel.db")
	cfg.Controller.PollInterval = 50 * time.Millisecond
	cfg.Controller.StopTimeout = 5 * time.Second
	cfg.API.ShutdownTimeout = 5 * time.Second
	return cfg
}

func discardLogger() *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

func startCluster(t *testing.T, cfg config.Config) *Cluster {
	t.Helper()
	c, err := Start(context.Background(), cfg, discardLogger())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Shutdown() })
	return c
}

type client struct {
	t    *testing.T
	base string
}

func (c client) do(method, path string, body any, out any) int {
	c.t.Helper()
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			c.t.Fatal(err)
		}
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, c.base+"/api/v1"+path, r)
	if err != nil {
		c.t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if out != nil && len(data) > 0 {
		if err := json.Unmarshal(data, out); err != nil {
			c.t.Fatalf("%s %s: decoding %q: %v", method, path, data, err)
		}
	}
	return resp.StatusCode
}

type pipeline struct {
	ID         string `json:"id"`
	Stop       string `json:"stop"`
	ActionText string `json:"action_text"`
	Preview    bool   `json:"preview"`
	Graph      struct {
		Nodes []struct {
			NodeID   int    `json:"node_id"`
			Operator string `json:"operator"`
		} `json:"nodes"`
	} `json:"graph"`
}

type job struct {
	ID    string `json:"id"`
	State string `json:"state"`
	RunID int    `json:"run_id"`
	Tasks *int   `json:"tasks"`
}

func (c client) job(pl string) job {
	c.t.Helper()
	var jobs struct{ Data []job }
	if code := c.do("GET", "/pipelines/"+pl+"/jobs", nil, &jobs); code != 200 || len(jobs.Data) != 1 {
		c.t.Fatalf("jobs of %s: %d %+v", pl, code, jobs)
	}
	return jobs.Data[0]
}

func (c client) waitState(pl, state string) job {
	c.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		j := c.job(pl)
		if j.State == state {
			return j
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("pipeline %s stuck in %s waiting for %s", pl, j.State, state)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

const doublerSQL = `CREATE TABLE impulse WITH (connector = 'impulse', event_rate = '100');
CREATE TABLE sink WITH (connector = 'blackhole');
INSERT INTO sink SELECT counter * 2 AS doubled FROM impulse WHERE counter % 2 = 0;`

func TestPipelineLifecycleOverHTTP(t *testing.T) {
	c := startCluster(t, testConfig(t, t.TempDir()))
	api := client{t, c.URL()}

	var pong string
	if code := api.do("GET", "/ping", nil, &pong); code != 200 || pong != "Pong" {
		t.Fatalf("ping: %d %q", code, pong)
	}
	var p pipeline
	code := api.do("POST", "/pipelines", map[string]any{"name": "doubler", "query": doublerSQL, "parallelism": 2}, &p)
	if code != 200 || !strings.HasPrefix(p.ID, "pl_") {
		t.Fatalf("create: %d %+v", code, p)
	}
	j := api.waitState(p.ID, "Running")
	if j.Tasks == nil || *j.Tasks < 2 || j.RunID != 1 {
		t.Fatalf("running job %+v", j)
	}
	api.do("GET", "/pipelines/"+p.ID, nil, &p)
	if p.ActionText != "Stop" {
		t.Fatalf("running pipeline offers %q", p.ActionText)
	}

	api.do("PATCH", "/pipelines/"+p.ID, map[string]any{"stop": "checkpoint"}, &p)
	api.waitState(p.ID, "Stopped")
	api.do("GET", "/pipelines/"+p.ID, nil, &p)
	if p.ActionText != "Start" {
		t.Fatalf("stopped pipeline offers %q", p.ActionText)
	}
	api.do("PATCH", "/pipelines/"+p.ID, map[string]any{"stop": "none"}, nil)
	if j := api.waitState(p.ID, "Running"); j.RunID != 2 {
		t.Fatalf("restarted run id %d", j.RunID)
	}

	var errBody struct{ Error string }
	if code := api.do("DELETE", "/pipelines/"+p.ID, nil, &errBody); code != 400 || !strings.Contains(errBody.Error, "terminal state") {
		t.Fatalf("delete of running pipeline: %d %+v", code, errBody)
	}
	api.do("PATCH", "/pipelines/"+p.ID, map[string]any{"stop": "immediate"}, nil)
	api.waitState(p.ID, "Stopped")
	if code := api.do("DELETE", "/pipelines/"+p.ID, nil, nil); code != 200 {
		t.Fatalf("delete: %d", code)
	}
	if code := api.do("GET", "/pipelines/"+p.ID, nil, nil); code != 404 {
		t.Fatalf("get after delete: %d", code)
	}
}

func TestPreviewStreamsOverSSE(t *testing.T) {
	previewStreamsOverSSE(t, testConfig(t, t.TempDir()))
}

// The same with the API reaching the controller through its gRPC server.
func TestPreviewStreamsOverSSEThroughGRPC(t *testing.T) {
	cfg := testConfig(t, t.TempDir())
	cfg.API.ControllerGRPC = true
	cfg.Controller.GRPCAddr = "127.0.0.1:0"
	previewStreamsOverSSE(t, cfg)
}

func previewStreamsOverSSE(t *testing.T, cfg config.Config) {
	c := startCluster(t, cfg)
	api := client{t, c.URL()}
	var p pipeline
	q := "CREATE TABLE impulse WITH (connector = 'impulse', event_rate = '200');\nSELECT counter, counter % 3 AS bucket FROM impulse;"
	if code := api.do("POST", "/pipelines/preview", map[string]any{"query": q}, &p); code != 200 || !p.Preview {
		t.Fatalf("preview: %d %+v", code, p)
	}
	j := api.waitState(p.ID, "Running")

	var list struct{ Data []pipeline }
	api.do("GET", "/pipelines", nil, &list)
	for _, lp := range list.Data {
		if lp.ID == p.ID {
			t.Fatal("preview listed in GET /pipelines")
		}
	}

	resp, err := http.Get(c.URL() + "/api/v1/pipelines/" + p.ID + "/jobs/" + j.ID + "/output")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); resp.StatusCode != 200 || !strings.HasPrefix(ct, "text/event-stream") {
		t.Fatalf("output: %d %s", resp.StatusCode, ct)
	}
	sc := bufio.NewScanner(resp.Body)
	rows := 0
	for rows < 20 && sc.Scan() {
		line := sc.Text()
		data, ok := strings.CutPrefix(line, "data: ")
		if !ok {
			continue
		}
		var d struct {
			OperatorID string  `json:"operator_id"`
			Timestamps []int64 `json:"timestamps"`
			StartID    int64   `json:"start_id"`
			Batch      string  `json:"batch"`
		}
		if err := json.Unmarshal([]byte(data), &d); err != nil {
			t.Fatalf("event %q: %v", data, err)
		}
		var batch []map[string]any
		if err := json.Unmarshal([]byte(d.Batch), &batch); err != nil {
			t.Fatalf("batch %q: %v", d.Batch, err)
		}
		if len(batch) != len(d.Timestamps) {
			t.Fatalf("%d rows but %d timestamps", len(batch), len(d.Timestamps))
		}
		for i, row := range batch {
			counter, bucket := row["counter"].(float64), row["bucket"].(float64)
			if int64(counter)%3 != int64(bucket) {
				t.Fatalf("row %d: %v", i, row)
			}
		}
		rows += len(batch)
	}
	if rows < 20 {
		t.Fatalf("read %d rows: %v", rows, sc.Err())
	}
	var groups struct{ Data []map[string]any }
	if code := api.do("GET", "/pipelines/"+p.ID+"/jobs/"+j.ID+"/operator_metric_groups", nil, &groups); code != 200 || groups.Data == nil {
		t.Fatalf("metric groups: %d %+v", code, groups)
	}
	// Stopping the preview ends the stream with a done event.
	api.do("PATCH", "/pipelines/"+p.ID, map[string]any{"stop": "immediate"}, nil)
	sawDone := false
	for sc.Scan() {
		if sc.Text() == "event: done" {
			sawDone = true
		}
	}
	if !sawDone {
		t.Fatal("stream ended without a done event")
	}
	// A job that no longer runs has no output to read.
	api.waitState(p.ID, "Stopped")
	var apiErr struct{ Error string }
	if code := api.do("GET", "/pipelines/"+p.ID+"/jobs/"+j.ID+"/output", nil, &apiErr); code != 400 || apiErr.Error != output.ErrNotRunning.Error() {
		t.Fatalf("output of a stopped job: %d %+v", code, apiErr)
	}
}

func TestShutdownAndResume(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(t, dir)
	c := startCluster(t, cfg)
	api := client{t, c.URL()}
	var p pipeline
	api.do("POST", "/pipelines", map[string]any{"name": "survivor", "query": doublerSQL, "parallelism": 1}, &p)
	api.waitState(p.ID, "Running")
	if err := c.Shutdown(); err != nil {
		t.Fatal(err)
	}
	if _, err := http.Get(c.URL() + "/api/v1/ping"); err == nil {
		t.Fatal("API still answering after shutdown")
	}

	c2 := startCluster(t, cfg)
	api2 := client{t, c2.URL()}
	// Until the new controller's first sync the store still says Running
	// (run 1); the resumed execution is run 2.
	deadline := time.Now().Add(20 * time.Second)
	for j := api2.job(p.ID); j.State != "Running" || j.RunID != 2; j = api2.job(p.ID) {
		if time.Now().After(deadline) || j.RunID > 2 {
			t.Fatalf("job not resumed as run 2: %+v", j)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestReadmeWalkthrough runs the README's curl walk-through verbatim
// against a cluster, so the documentation cannot rot.
func TestReadmeWalkthrough(t *testing.T) {
	for _, tool := range []string{"bash", "curl", "jq"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("the walk-through needs %s: %v", tool, err)
		}
	}
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(readme), "<!-- walkthrough:start -->")
	block, _, ok2 := strings.Cut(rest, "<!-- walkthrough:end -->")
	if !ok || !ok2 {
		t.Fatal("README has no walk-through markers")
	}
	script := strings.TrimSpace(block)
	script = strings.TrimPrefix(script, "```bash")
	script = strings.TrimSuffix(script, "```")

	c := startCluster(t, testConfig(t, t.TempDir()))
	script = strings.ReplaceAll(script, "http://localhost:5115", c.URL())

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "-euo", "pipefail", "-c", script)
	cmd.Dir = t.TempDir()
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("walk-through failed: %v\n%s", err, out)
	}
	text := string(out)
	for _, want := range []string{`"Pong"`, "data: {", `"state": "Running"`, `"action_text": "Stopping"`, "200"} {
		if !strings.Contains(text, want) {
			t.Errorf("walk-through output lacks %q:\n%s", want, text)
		}
	}
	if testing.Verbose() {
		fmt.Println(text)
	}
}

func TestPrometheusMetrics(t *testing.T) {
	cfg := testConfig(t, t.TempDir())
	c := startCluster(t, cfg)
	api := client{t, c.URL()}
	var p pipeline
	api.do("POST", "/pipelines", map[string]any{"name": "metered", "query": doublerSQL, "parallelism": 2}, &p)
	j := api.waitState(p.ID, "Running")

	// Counters are sampled at the controller's metrics interval (2 s).
	// Subtask 0 produces the even counters, the ones the query keeps.
	want := regexp.MustCompile(`runnel_task_messages_sent_total\{job_id="` + j.ID + `",node_id="\d+",operator_id="[^"]+",subtask="0"\} ([1-9]\d*)`)
	deadline := time.Now().Add(15 * time.Second)
	for {
		resp, err := http.Get(c.URL() + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		text := string(body)
		if want.MatchString(text) && strings.Contains(text, `runnel_jobs{state="Running"} 1`) && strings.Contains(text, "go_goroutines") {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no task metrics for %s:\n%s", j.ID, grepLines(text, "runnel_"))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func grepLines(text, substr string) string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		if strings.Contains(l, substr) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
