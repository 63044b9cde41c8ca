package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func batchEvent(id int, counter int) string {
	d := OutputData{OperatorID: "sink_preview_2", Timestamps: []UnixMicros{1}, StartID: int64(counter),
		Batch: fmt.Sprintf(`[{"counter":%d}]`, counter)}
	b, _ := json.Marshal(d)
	return fmt.Sprintf("id: %d\ndata: %s\n\n", id, b)
}

// sseServer serves the output route with a script per connection; the
// jobs route answers with the state in *state.
type sseServer struct {
	mu          sync.Mutex
	scripts     []func(w http.ResponseWriter, r *http.Request)
	conns       int
	lastEventID []string
	state       JobState
}

func (s *sseServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if strings.HasSuffix(r.URL.Path, "/jobs") {
		s.mu.Lock()
		st := s.state
		s.mu.Unlock()
		json.NewEncoder(w).Encode(collection[Job]{Data: []Job{{ID: "job_1", PipelineID: "pl_1", State: st}}})
		return
	}
	s.mu.Lock()
	i := s.conns
	s.conns++
	s.lastEventID = append(s.lastEventID, r.Header.Get("Last-Event-ID"))
	s.mu.Unlock()
	if i >= len(s.scripts) {
		w.WriteHeader(400)
		w.Write([]byte(`{"error":"job must be running to read output"}`))
		return
	}
	s.scripts[i](w, r)
}

func streamHeader(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "text/event-stream")
	w.WriteHeader(200)
	w.(http.Flusher).Flush()
}

func write(w http.ResponseWriter, s string) {
	io.WriteString(w, s)
	w.(http.Flusher).Flush()
}

func counters(t *testing.T, s *OutputStream) ([]string, error) {
	t.Helper()
	var got []string
	for {
		d, err := s.Recv()
		if err != nil {
			return got, err
		}
		rows, err := d.Rows()
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rows {
			v, _ := r.Get("counter")
			got = append(got, fmt.Sprint(v))
		}
	}
}

func TestOutputStreamReadsEventsUntilDone(t *testing.T) {
	srv := &sseServer{scripts: []func(http.ResponseWriter, *http.Request){
		func(w http.ResponseWriter, r *http.Request) {
			streamHeader(w)
			write(w, batchEvent(0, 0))
			write(w, ": keep-alive\n\n")
			// CRLF line ends, a data field split over two lines, a field
			// without a space after the colon, and an unknown event.
			write(w, "id: 1\r\ndata: {\"operator_id\":\"sink_preview_2\",\"subtask_idx\":0,\r\ndata:\"timestamps\":[],\"start_id\":1,\"batch\":\"[{\\\"counter\\\":1}]\"}\r\n\r\n")
			write(w, "event: future\ndata: {}\n\n")
			write(w, "retry: 10\n\n") // no data: not dispatched
			write(w, batchEvent(2, 2))
			write(w, "event: done\ndata: {\"dropped\":3}\n\n")
		},
	}}
	c := newTestClient(t, srv)
	s, err := c.OpenOutput(context.Background(), "pl_1", "job_1", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	got, err := counters(t, s)
	if !errors.Is(err, io.EOF) || strings.Join(got, ",") != "0,1,2" {
		t.Fatalf("got %v, %v", got, err)
	}
	if !s.Done() || s.Dropped() != 3 || s.Reconnects() != 0 || s.LastEventID() != "2" || s.retry != 10*time.Millisecond {
		t.Fatalf("done %v dropped %d reconnects %d last id %q retry %s", s.Done(), s.Dropped(), s.Reconnects(), s.LastEventID(), s.retry)
	}
	// Recv keeps saying EOF.
	if _, err := s.Recv(); !errors.Is(err, io.EOF) {
		t.Fatal(err)
	}
}

func TestOutputStreamReconnectsWithLastEventID(t *testing.T) {
	srv := &sseServer{state: StateRunning, scripts: []func(http.ResponseWriter, *http.Request){
		func(w http.ResponseWriter, r *http.Request) {
			streamHeader(w)
			write(w, "retry: 5\n\n")
			write(w, batchEvent(0, 0))
			write(w, batchEvent(1, 1))
			// the connection drops here, mid-event
			write(w, "id: 2\ndata: {\"oper")
		},
		func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(503) // still coming back
		},
		func(w http.ResponseWriter, r *http.Request) {
			streamHeader(w)
			write(w, batchEvent(0, 5))
			write(w, "event: done\ndata: {\"dropped\":0}\n\n")
		},
	}}
	c := newTestClient(t, srv)
	var attempts []int
	s, err := c.OpenOutput(context.Background(), "pl_1", "job_1", &OutputOptions{
		OnReconnect: func(n int, cause error) { attempts = append(attempts, n) },
	})
	if err != nil {
		t.Fatal(err)
	}
	got, err := counters(t, s)
	if !errors.Is(err, io.EOF) || strings.Join(got, ",") != "0,1,5" {
		t.Fatalf("got %v, %v", got, err)
	}
	if s.Reconnects() != 1 || !s.Done() || fmt.Sprint(attempts) != "[1 2]" {
		t.Fatalf("reconnects %d done %v attempts %v", s.Reconnects(), s.Done(), attempts)
	}
	if fmt.Sprint(srv.lastEventID) != "[ 1 1]" {
		t.Fatalf("Last-Event-ID headers %q", srv.lastEventID)
	}
}

func TestOutputStreamEndsWhenJobStoppedWhileAway(t *testing.T) {
	srv := &sseServer{state: StateStopped, scripts: []func(http.ResponseWriter, *http.Request){
		func(w http.ResponseWriter, r *http.Request) {
			streamHeader(w)
			write(w, batchEvent(0, 0))
		},
		// then 400: the job is not running
	}}
	c := newTestClient(t, srv)
	s, err := c.OpenOutput(context.Background(), "pl_1", "job_1", &OutputOptions{ReconnectDelay: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	got, err := counters(t, s)
	if !errors.Is(err, io.EOF) || len(got) != 1 || s.Done() {
		t.Fatalf("got %v, %v, done %v", got, err, s.Done())
	}
}

func TestOutputStreamRefusalOfRunningJobIsAnError(t *testing.T) {
	srv := &sseServer{state: StateRunning, scripts: []func(http.ResponseWriter, *http.Request){
		func(w http.ResponseWriter, r *http.Request) { streamHeader(w) },
	}}
	c := newTestClient(t, srv)
	s, err := c.OpenOutput(context.Background(), "pl_1", "job_1", &OutputOptions{ReconnectDelay: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.Recv()
	var ae *APIError
	if !errors.As(err, &ae) || ae.StatusCode != 400 {
		t.Fatalf("%v", err)
	}
}

func TestOutputStreamGivesUp(t *testing.T) {
	var conns atomic.Int32
	c := newTestClient(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if conns.Add(1) == 1 {
			streamHeader(w)
			write(w, batchEvent(0, 0))
			return
		}
		w.WriteHeader(502)
	}))
	s, err := c.OpenOutput(context.Background(), "pl_1", "job_1", &OutputOptions{MaxReconnects: 3, ReconnectDelay: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	_, err = counters(t, s)
	var ce *ConnectionError
	if !errors.As(err, &ce) || !strings.Contains(err.Error(), "gave up after 3 reconnect attempts") || conns.Load() != 4 {
		t.Fatalf("%v after %d connections", err, conns.Load())
	}

	// With reconnecting disabled the first drop is final.
	conns.Store(0)
	s, err = c.OpenOutput(context.Background(), "pl_1", "job_1", &OutputOptions{MaxReconnects: -1})
	if err != nil {
		t.Fatal(err)
	}
	if _, err = counters(t, s); !errors.As(err, &ce) || conns.Load() != 1 {
		t.Fatalf("%v after %d connections", err, conns.Load())
	}
}

func TestOutputStreamIdleTimeoutReconnects(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	srv := &sseServer{state: StateRunning, scripts: []func(http.ResponseWriter, *http.Request){
		func(w http.ResponseWriter, r *http.Request) {
			streamHeader(w)
			write(w, batchEvent(0, 0))
			select { // silent: no data, no keep-alive
			case <-release:
			case <-r.Context().Done():
			}
		},
		func(w http.ResponseWriter, r *http.Request) {
			streamHeader(w)
			write(w, batchEvent(0, 1))
			write(w, "event: done\ndata: {\"dropped\":0}\n\n")
		},
	}}
	c := newTestClient(t, srv)
	var cause error
	s, err := c.OpenOutput(context.Background(), "pl_1", "job_1", &OutputOptions{
		IdleTimeout: 50 * time.Millisecond, ReconnectDelay: time.Millisecond,
		OnReconnect: func(_ int, err error) { cause = err },
	})
	if err != nil {
		t.Fatal(err)
	}
	got, err := counters(t, s)
	if !errors.Is(err, io.EOF) || strings.Join(got, ",") != "0,1" || s.Reconnects() != 1 {
		t.Fatalf("got %v, %v, %d reconnects", got, err, s.Reconnects())
	}
	if cause == nil || !strings.Contains(cause.Error(), "no data or keep-alive for 50ms") {
		t.Fatalf("cause %v", cause)
	}
}

func TestOutputStreamKeepAlivesKeepItOpen(t *testing.T) {
	srv := &sseServer{scripts: []func(http.ResponseWriter, *http.Request){
		func(w http.ResponseWriter, r *http.Request) {
			streamHeader(w)
			for range 6 {
				time.Sleep(20 * time.Millisecond)
				write(w, ": keep-alive\n\n")
			}
			write(w, batchEvent(0, 7))
			write(w, "event: done\ndata: {\"dropped\":0}\n\n")
		},
	}}
	c := newTestClient(t, srv)
	s, err := c.OpenOutput(context.Background(), "pl_1", "job_1", &OutputOptions{IdleTimeout: 60 * time.Millisecond, MaxReconnects: -1})
	if err != nil {
		t.Fatal(err)
	}
	got, err := counters(t, s)
	if !errors.Is(err, io.EOF) || strings.Join(got, ",") != "7" {
		t.Fatalf("got %v, %v", got, err)
	}
}

func TestOutputStreamCloseAndCancel(t *testing.T) {
	block := func(w http.ResponseWriter, r *http.Request) {
		streamHeader(w)
		<-r.Context().Done()
	}
	srv := &sseServer{scripts: []func(http.ResponseWriter, *http.Request){block, block}}
	c := newTestClient(t, srv)

	s, err := c.OpenOutput(context.Background(), "pl_1", "job_1", nil)
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		time.Sleep(20 * time.Millisecond)
		s.Close()
	}()
	if _, err := s.Recv(); !errors.Is(err, ErrStreamClosed) {
		t.Fatalf("after Close: %v", err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	s, err = c.OpenOutput(ctx, "pl_1", "job_1", nil)
	if err != nil {
		t.Fatal(err)
	}
	time.AfterFunc(20*time.Millisecond, cancel)
	n := 0
	for _, err := range s.Batches() {
		n++
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("after cancel: %v", err)
		}
	}
	if n != 1 {
		t.Fatalf("%d yields", n)
	}
}

func TestOpenOutputErrors(t *testing.T) {
	c := newTestClient(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.Contains(r.URL.Path, "pl_json") {
			w.Write([]byte(`{}`)) // not an event stream
			return
		}
		w.WriteHeader(400)
		w.Write([]byte(`{"error":"Job does not have a preview sink"}`))
	}))
	_, err := c.OpenOutput(context.Background(), "pl_1", "job_1", nil)
	var ae *APIError
	if !errors.As(err, &ae) || ae.Message != "Job does not have a preview sink" {
		t.Fatalf("%v", err)
	}
	if _, err := c.OpenOutput(context.Background(), "pl_json", "job_1", nil); err == nil || !strings.Contains(err.Error(), "expected an event stream") {
		t.Fatalf("%v", err)
	}
}
