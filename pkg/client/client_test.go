package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func newTestClient(t *testing.T, h http.Handler, opts ...Option) *Client {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	c, err := New(srv.URL, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestNewEndpoints(t *testing.T) {
	for in, want := range map[string]string{
		"http://127.0.0.1:5115":          "http://127.0.0.1:5115",
		"127.0.0.1:5115":                 "http://127.0.0.1:5115",
		"http://h:1/":                    "http://h:1",
		"https://h/api/v1":               "https://h",
		"https://h/runnel/api/v1/":       "https://h/runnel",
		" http://localhost:5115 ":        "http://localhost:5115",
		"http://h/prefix with space/x/":  "http://h/prefix%20with%20space/x",
		"http://[::1]:5115/api/v1":       "http://[::1]:5115",
		"http://user@h:5115/deep/prefix": "http://user@h:5115/deep/prefix",
	} {
		c, err := New(in)
		if err != nil {
			t.Errorf("New(%q): %v", in, err)
			continue
		}
		if got := c.Endpoint(); got != want {
			t.Errorf("New(%q).Endpoint() = %q, want %q", in, got, want)
		}
	}
	for _, bad := range []string{"", "ftp://h", "http://", "http://h/?q=1", "http://h/#x", "http://%zz"} {
		if _, err := New(bad); err == nil {
			t.Errorf("New(%q) accepted", bad)
		}
	}
}

func TestURLEscapesSegmentsAndKeepsPrefix(t *testing.T) {
	var got string
	c := newTestClient(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r.URL.EscapedPath()
		w.Write([]byte(`{"data":[]}`))
	}))
	c.base.Path = "/pre"
	if _, err := c.ListPipelineJobs(context.Background(), "a/b c"); err != nil {
		t.Fatal(err)
	}
	if got != "/pre/api/v1/pipelines/a%2Fb%20c/jobs" {
		t.Fatalf("path %q", got)
	}
}

func TestAPIErrors(t *testing.T) {
	c := newTestClient(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/api/v1/pipelines/pl_missing":
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(404)
			w.Write([]byte(`{"error":"Pipeline not found"}`))
		case "/api/v1/pipelines":
			w.WriteHeader(502)
			w.Write([]byte("<html>bad gateway</html>"))
		default:
			w.WriteHeader(500)
		}
	}))
	ctx := context.Background()

	_, err := c.GetPipeline(ctx, "pl_missing")
	var ae *APIError
	if !errors.As(err, &ae) || ae.StatusCode != 404 || ae.Message != "Pipeline not found" || !ae.NotFound() || !ae.ClientError() {
		t.Fatalf("404: %#v", err)
	}
	if ae.Method != "GET" || ae.Path != "/api/v1/pipelines/pl_missing" {
		t.Fatalf("request of the error: %s %s", ae.Method, ae.Path)
	}
	if err.Error() != "Pipeline not found (HTTP 404)" || !IsNotFound(err) {
		t.Fatalf("message %q", err)
	}

	_, err = c.ListPipelines(ctx, nil)
	if !errors.As(err, &ae) || ae.StatusCode != 502 || ae.Message != "<html>bad gateway</html>" || ae.ClientError() {
		t.Fatalf("502: %#v", err)
	}
	err = c.DeletePipeline(ctx, "x")
	if !errors.As(err, &ae) || ae.StatusCode != 500 || ae.Message != "Internal Server Error" {
		t.Fatalf("bare 500: %#v", err)
	}
	var ce *ConnectionError
	if errors.As(err, &ce) {
		t.Fatal("an HTTP answer is not a connection error")
	}
}

func TestConnectionErrors(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	c, err := New(addr)
	if err != nil {
		t.Fatal(err)
	}
	err = c.Ping(context.Background())
	var ce *ConnectionError
	if !errors.As(err, &ce) || ce.Endpoint != "http://"+addr {
		t.Fatalf("down server: %#v", err)
	}
	if !strings.Contains(err.Error(), "cannot reach Runnel at http://"+addr) || !strings.Contains(err.Error(), "refused") {
		t.Fatalf("message %q", err)
	}
	var ae *APIError
	if errors.As(err, &ae) {
		t.Fatal("a connection error is not an API error")
	}

	// A cancelled context is the caller's doing, not a connection failure.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err = c.Ping(ctx)
	if errors.As(err, &ce) || !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled: %#v", err)
	}
}

func TestTimeoutAppliesToOrdinaryRequests(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	c := newTestClient(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}), WithTimeout(50*time.Millisecond))
	start := time.Now()
	err := c.Ping(context.Background())
	if err == nil || time.Since(start) > 5*time.Second {
		t.Fatalf("no timeout: %v after %s", err, time.Since(start))
	}
}

func TestRequestsCarryJSONAndHeaders(t *testing.T) {
	type seen struct {
		method, path, ctype, ua, body string
	}
	var got []seen
	var mu sync.Mutex
	c := newTestClient(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		got = append(got, seen{r.Method, r.URL.RequestURI(), r.Header.Get("Content-Type"), r.Header.Get("User-Agent"), string(b)})
		mu.Unlock()
		w.Write([]byte(`{"id":"pl_1","name":"n"}`))
	}), WithUserAgent("test-agent"))
	ctx := context.Background()
	us := uint64(30_000_000)
	if _, err := c.CreatePipeline(ctx, PipelinePost{Name: "n", Query: "q", Parallelism: 2, CheckpointIntervalMicros: &us}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.StopPipeline(ctx, "pl_1", StopGraceful); err != nil {
		t.Fatal(err)
	}
	if _, err := c.StartPipeline(ctx, "pl_1"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.RescalePipeline(ctx, "pl_1", 3); err != nil {
		t.Fatal(err)
	}
	if _, err := c.RescalePipeline(ctx, "pl_1", 0); err == nil {
		t.Fatal("rescale to 0 accepted")
	}
	force := true
	if _, err := c.RestartPipeline(ctx, "pl_1", PipelineRestart{Force: &force}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.RestartPipeline(ctx, "pl_1", PipelineRestart{}); err != nil {
		t.Fatal(err)
	}
	want := []seen{
		{"POST", "/api/v1/pipelines", "application/json", "test-agent", `{"name":"n","query":"q","parallelism":2,"checkpoint_interval_micros":30000000}`},
		{"PATCH", "/api/v1/pipelines/pl_1", "application/json", "test-agent", `{"stop":"graceful"}`},
		{"PATCH", "/api/v1/pipelines/pl_1", "application/json", "test-agent", `{"stop":"none"}`},
		{"PATCH", "/api/v1/pipelines/pl_1", "application/json", "test-agent", `{"parallelism":3}`},
		{"POST", "/api/v1/pipelines/pl_1/restart", "application/json", "test-agent", `{"force":true}`},
		// The restart route wants a body even when it says nothing.
		{"POST", "/api/v1/pipelines/pl_1/restart", "application/json", "test-agent", `{}`},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("requests:\n got %v\nwant %v", got, want)
	}
}

// pagedServer serves n items newest first in pages, as the API does, and
// counts the requests.
func pagedServer(t *testing.T, n int, requests *atomic.Int32) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		q := r.URL.Query()
		limit := 10
		if v := q.Get("limit"); v != "" {
			limit, _ = strconv.Atoi(v)
		}
		start := n // ids count down: item n is the newest
		if after := q.Get("starting_after"); after != "" {
			k, _ := strconv.Atoi(strings.TrimPrefix(after, "pl_"))
			start = k - 1
		}
		page := Page[Pipeline]{Data: []Pipeline{}}
		for k := start; k >= 1 && len(page.Data) < limit; k-- {
			page.Data = append(page.Data, Pipeline{ID: fmt.Sprintf("pl_%d", k)})
		}
		page.HasMore = len(page.Data) > 0 && page.Data[len(page.Data)-1].ID != "pl_1"
		json.NewEncoder(w).Encode(page)
	})
}

func TestPipelinesIteratesOverPages(t *testing.T) {
	var requests atomic.Int32
	c := newTestClient(t, pagedServer(t, 7, &requests))
	var ids []string
	for p, err := range c.Pipelines(context.Background(), &ListOptions{Limit: 3}) {
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, p.ID)
	}
	if strings.Join(ids, ",") != "pl_7,pl_6,pl_5,pl_4,pl_3,pl_2,pl_1" || requests.Load() != 3 {
		t.Fatalf("ids %v after %d requests", ids, requests.Load())
	}

	// Stopping early fetches no further page.
	requests.Store(0)
	for p, err := range c.Pipelines(context.Background(), &ListOptions{Limit: 3}) {
		if err != nil || p.ID == "pl_6" {
			break
		}
	}
	if requests.Load() != 1 {
		t.Fatalf("%d requests for an early break", requests.Load())
	}

	// Starting after a cursor.
	ids = nil
	for p, err := range c.Pipelines(context.Background(), &ListOptions{StartingAfter: "pl_3"}) {
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, p.ID)
	}
	if strings.Join(ids, ",") != "pl_2,pl_1" {
		t.Fatalf("after pl_3: %v", ids)
	}
}

func TestIteratorYieldsErrorOnce(t *testing.T) {
	c := newTestClient(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(400)
		w.Write([]byte(`{"error":"Limit must be greater than 0"}`))
	}))
	n := 0
	for _, err := range c.JobErrors(context.Background(), "pl_1", "job_1", nil) {
		n++
		var ae *APIError
		if !errors.As(err, &ae) || ae.StatusCode != 400 {
			t.Fatalf("error %v", err)
		}
	}
	if n != 1 {
		t.Fatalf("%d yields", n)
	}
}

// jobServer answers the jobs of pipeline pl_1 with the states in order,
// one per request, repeating the last.
func jobServer(states ...JobState) http.Handler {
	var n atomic.Int32
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		i := min(int(n.Add(1))-1, len(states)-1)
		json.NewEncoder(w).Encode(collection[Job]{Data: []Job{{ID: "job_1", PipelineID: "pl_1", State: states[i], RunID: uint64(i)}}})
	})
}

func TestWaitForState(t *testing.T) {
	c := newTestClient(t, jobServer(StateCreated, StateCompiling, StateScheduling, StateRunning), WithPollInterval(time.Millisecond))
	j, err := c.WaitForState(context.Background(), "pl_1", StateRunning, StateFailed)
	if err != nil || j.State != StateRunning {
		t.Fatalf("%+v %v", j, err)
	}

	c = newTestClient(t, jobServer(StateScheduling), WithPollInterval(time.Millisecond))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	j, err = c.WaitForState(ctx, "pl_1", StateRunning)
	if !errors.Is(err, context.DeadlineExceeded) || j == nil || j.State != StateScheduling {
		t.Fatalf("timeout: %+v %v", j, err)
	}
	if want := "waiting for pipeline pl_1 to be Running: last state Scheduling: context deadline exceeded"; err.Error() != want {
		t.Fatalf("message %q", err)
	}
	if _, err := c.WaitForState(context.Background(), "pl_1"); err == nil {
		t.Fatal("no states accepted")
	}
}

func TestWaitForJobStopsOnConditionError(t *testing.T) {
	c := newTestClient(t, jobServer(StateCompiling, StateFailed), WithPollInterval(time.Millisecond))
	boom := errors.New("failed")
	j, err := c.WaitForJob(context.Background(), "pl_1", func(j *Job) (bool, error) {
		if j.State == StateFailed {
			return false, boom
		}
		return false, nil
	})
	if !errors.Is(err, boom) || j.State != StateFailed {
		t.Fatalf("%+v %v", j, err)
	}
}

func TestFollowJobErrors(t *testing.T) {
	var mu sync.Mutex
	var msgs []JobLogMessage // newest first
	add := func(id string) {
		mu.Lock()
		defer mu.Unlock()
		msgs = append([]JobLogMessage{{ID: id, Level: "error", Message: id}}, msgs...)
	}
	add("jlm_1")
	add("jlm_2")
	add("jlm_3")
	c := newTestClient(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		after := r.URL.Query().Get("starting_after")
		limit, _ := strconv.Atoi(r.URL.Query().Get("limit"))
		out := Page[JobLogMessage]{Data: []JobLogMessage{}}
		on := after == ""
		for _, m := range msgs {
			if on && len(out.Data) == limit {
				out.HasMore = true
				break
			}
			if on {
				out.Data = append(out.Data, m)
			}
			if m.ID == after {
				on = true
			}
		}
		json.NewEncoder(w).Encode(out)
	}), WithPollInterval(5*time.Millisecond))

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var got []string
	for m, err := range c.FollowJobErrors(ctx, "pl_1", "job_1", 2) {
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, m.ID)
		switch len(got) {
		case 2:
			add("jlm_4")
			add("jlm_5")
		case 4:
			cancel()
		}
	}
	if strings.Join(got, ",") != "jlm_2,jlm_3,jlm_4,jlm_5" {
		t.Fatalf("followed %v", got)
	}
}

func TestRowsKeepColumnOrderAndNumbers(t *testing.T) {
	d := OutputData{OperatorID: "sink", Batch: `[{"z":9007199254740993,"a":"x","m":null,"n":{"k":[1,2]},"b":true},{"z":1.5,"a":"y","m":1,"n":null,"b":false}]`}
	rows, err := d.Rows()
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 2 || strings.Join(rows[0].Columns, ",") != "z,a,m,n,b" {
		t.Fatalf("rows %+v", rows)
	}
	if v, _ := rows[0].Get("z"); v.(json.Number).String() != "9007199254740993" {
		t.Fatalf("big integer became %v", v)
	}
	if _, ok := rows[0].Get("nope"); ok {
		t.Fatal("unknown column found")
	}
	b, err := json.Marshal(rows[0])
	if err != nil || string(b) != `{"z":9007199254740993,"a":"x","m":null,"n":{"k":[1,2]},"b":true}` {
		t.Fatalf("re-encoded %s %v", b, err)
	}
	for _, bad := range []string{``, `{}`, `[1]`, `[{"a":1}`, `[{"a":1}] x`} {
		if _, err := (OutputData{Batch: bad}).Rows(); err == nil {
			t.Errorf("batch %q decoded", bad)
		}
	}
	if rows, err := (OutputData{Batch: `[]`}).Rows(); err != nil || len(rows) != 0 {
		t.Fatalf("empty batch: %v %v", rows, err)
	}
}

func TestHelpers(t *testing.T) {
	if !StateStopped.Terminal() || !StateFailed.Terminal() || !StateFinished.Terminal() || StateRunning.Terminal() || StateFailing.Terminal() {
		t.Fatal("Terminal")
	}
	if len(States()) != 14 || len(StopModes()) != 5 {
		t.Fatal("lists")
	}
	g := Graph{Nodes: []GraphNode{{Parallelism: 2}, {Parallelism: 5}}}
	if g.MaxParallelism() != 5 || (Graph{}).MaxParallelism() != 0 {
		t.Fatal("MaxParallelism")
	}
	sp := CheckpointEventSpan{StartTime: 10, FinishTime: 2010}
	if sp.Duration() != 2*time.Millisecond || (CheckpointEventSpan{StartTime: 10}).Duration() != 0 {
		t.Fatal("Duration")
	}
	st := SubtaskCheckpointGroup{EventSpans: []CheckpointEventSpan{{Event: "Sync"}}}
	if _, ok := st.Span("Sync"); !ok {
		t.Fatal("Span")
	}
	if _, ok := st.Span("Async"); ok {
		t.Fatal("Span found a missing one")
	}
	if m, ok := (SubtaskMetrics{Metrics: []Metric{{Value: 1}, {Value: 2}}}).Latest(); !ok || m.Value != 2 {
		t.Fatal("Latest")
	}
	if UnixMicros(1_500_000).Time().UnixMilli() != 1500 {
		t.Fatal("UnixMicros")
	}
	if (Pipeline{CheckpointIntervalMicros: 10_000_000}).CheckpointInterval() != 10*time.Second {
		t.Fatal("CheckpointInterval")
	}
}
