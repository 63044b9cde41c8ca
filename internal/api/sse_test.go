package api

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/runnel-dev/runnel/internal/output"
	"github.com/runnel-dev/runnel/internal/store"
)

type sseEvent struct {
	id, event, data string
	comment         bool
}

// openSSE connects to an output stream and parses its events onto a
// channel, closed when the stream ends.
func (e *env) openSSE(ctx context.Context, path string) (*http.Response, <-chan sseEvent) {
	e.t.Helper()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, e.srv.URL+path, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		e.t.Fatalf("GET %s: %d %s", path, resp.StatusCode, b)
	}
	ch := make(chan sseEvent, 1024)
	go func() {
		defer close(ch)
		defer resp.Body.Close()
		br := bufio.NewReader(resp.Body)
		var ev sseEvent
		for {
			line, err := br.ReadString('\n')
			if err != nil {
				return
			}
			line = strings.TrimSuffix(line, "\n")
			switch {
			case line == "":
				if ev != (sseEvent{}) {
					ch <- ev
				}
				ev = sseEvent{}
			case strings.HasPrefix(line, ":"):
				ev.comment = true
			case strings.HasPrefix(line, "id: "):
				ev.id = strings.TrimPrefix(line, "id: ")
			case strings.HasPrefix(line, "event: "):
				ev.event = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "data: "):
				ev.data = strings.TrimPrefix(line, "data: ")
			}
		}
	}()
	return resp, ch
}

// next returns the next non-comment event.
func next(t *testing.T, ch <-chan sseEvent) sseEvent {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case ev, ok := <-ch:
			if !ok {
				t.Fatal("stream ended early")
			}
			if !ev.comment {
				return ev
			}
		case <-timeout:
			t.Fatal("timed out waiting for an event")
		}
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (e *env) preview() (Pipeline, Job, string) {
	e.t.Helper()
	var p Pipeline
	e.must(http.StatusOK, http.MethodPost, "/api/v1/pipelines/preview", `{"query":"SELECT * FROM impulse"}`, &p)
	j := e.jobOf(p)
	return p, j, "/api/v1/pipelines/" + p.ID + "/jobs/" + j.ID + "/output"
}

func TestOutputRejections(t *testing.T) {
	e := newEnv(t)
	regular := e.create("regular", 1)
	rj := e.jobOf(regular)
	e.ctrl.start(rj.ID)
	r := e.req(http.MethodGet, "/api/v1/pipelines/"+regular.ID+"/jobs/"+rj.ID+"/output", "")
	if r.status != 400 || r.errMsg(t) != "Job does not have a preview sink" {
		t.Errorf("no preview sink: %d %s", r.status, r.body)
	}

	_, j, path := e.preview()
	r = e.req(http.MethodGet, path, "")
	if r.status != 400 || r.errMsg(t) != output.ErrUnknownJob.Error() {
		t.Errorf("unknown to controller: %d %s", r.status, r.body)
	}
	e.ctrl.start(j.ID)
	e.ctrl.stop(j.ID)
	r = e.req(http.MethodGet, path, "")
	if r.status != 400 || r.errMsg(t) != output.ErrNotRunning.Error() {
		t.Errorf("not running: %d %s", r.status, r.body)
	}
}

// TestOutputFanOut runs three readers and one that never reads. The job
// side must never block, the readers must get every batch in order, and
// the stalled reader's losses must end up in the job's log.
func TestOutputFanOut(t *testing.T) {
	e := newEnv(t)
	_, j, path := e.preview()
	sink := e.ctrl.start(j.ID)
	ctx := context.Background()

	var clients []<-chan sseEvent
	for range 3 {
		resp, ch := e.openSSE(ctx, path)
		if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
			t.Errorf("content type %q", ct)
		}
		if cc := resp.Header.Get("Cache-Control"); cc != "no-cache" {
			t.Errorf("cache control %q", cc)
		}
		clients = append(clients, ch)
	}
	waitFor(t, "three subscribers", func() bool { return e.ctrl.hub.Subscribers(j.ID) == 3 })

	// The stalled client speaks HTTP by hand so that nothing reads its
	// socket, with the smallest receive buffer the kernel allows.
	u, _ := url.Parse(e.srv.URL)
	stalled, err := net.Dial("tcp", u.Host)
	if err != nil {
		t.Fatal(err)
	}
	defer stalled.Close()
	_ = stalled.(*net.TCPConn).SetReadBuffer(1024)
	fmt.Fprintf(stalled, "GET %s HTTP/1.1\r\nHost: %s\r\n\r\n", path, u.Host)
	waitFor(t, "the stalled subscriber", func() bool { return e.ctrl.hub.Subscribers(j.ID) == 4 })

	// Enough data to fill every socket buffer between the handler and the
	// stalled client many times over.
	const batches = 250
	rows := `[{"v":"` + strings.Repeat("x", 32<<10) + `"}]`
	var slowest time.Duration
	for i := range batches {
		d := output.Data{OperatorID: "sink_3", SubtaskIdx: 0, Timestamps: []int64{int64(i) * 1000}, StartID: int64(i), Batch: rows}
		start := time.Now()
		if err := sink.Send(ctx, d); err != nil {
			t.Fatal(err)
		}
		slowest = max(slowest, time.Since(start))
		// Pace the job to the readers that keep up, so that only the
		// stalled one falls behind.
		for c, ch := range clients {
			ev := next(t, ch)
			if ev.id != strconv.Itoa(i) {
				t.Fatalf("client %d: event id %q, want %d", c, ev.id, i)
			}
			var got output.Data
			if err := json.Unmarshal([]byte(ev.data), &got); err != nil {
				t.Fatalf("client %d: data %.100s: %v", c, ev.data, err)
			}
			if got.StartID != int64(i) || got.OperatorID != "sink_3" || got.Batch != rows || got.Timestamps[0] != int64(i)*1000 {
				t.Fatalf("client %d: event %d data differs", c, i)
			}
			if i == 0 && !strings.HasPrefix(ev.data, `{"operator_id":"sink_3","subtask_idx":0,"timestamps":[0],"start_id":0,"batch":`) {
				t.Errorf("wire shape %.120s", ev.data)
			}
		}
	}
	if slowest > time.Second {
		t.Errorf("a Send took %v: the job side blocked", slowest)
	}

	// The job ends: readers get `event: done` and the stream closes.
	e.ctrl.stop(j.ID)
	for c, ch := range clients {
		ev := next(t, ch)
		if ev.event != "done" || ev.data != `{"dropped":0}` {
			t.Errorf("client %d: last event %+v", c, ev)
		}
		for range ch {
		}
	}

	// The stalled client goes away; its losses are logged as a warning.
	stalled.Close()
	var warn store.LogMessage
	waitFor(t, "the dropped-batches warning", func() bool {
		ms, _, err := e.store.ListLogMessages(ctx, store.DefaultOrg, j.ID, store.LevelWarn, store.Page{Limit: 10})
		if err != nil {
			t.Fatal(err)
		}
		if len(ms) > 0 {
			warn = ms[0]
			return true
		}
		return false
	})
	if !strings.Contains(warn.Message, "missed") || !strings.Contains(warn.Message, "batches") || warn.Level != store.LevelWarn {
		t.Errorf("warning %+v", warn)
	}
	var missed int
	if _, err := fmt.Sscanf(warn.Message, "A preview output client missed %d batches", &missed); err != nil || missed <= 0 || missed >= batches {
		t.Errorf("warning %q: missed %d (%v)", warn.Message, missed, err)
	}
	t.Logf("the stalled client missed %d of %d batches", missed, batches)
	// Only one client lost anything.
	ms, _, _ := e.store.ListLogMessages(ctx, store.DefaultOrg, j.ID, store.LevelWarn, store.Page{Limit: 10})
	if len(ms) != 1 {
		t.Errorf("%d warnings, want 1", len(ms))
	}
	// And none of it shows up as an error.
	var errs PaginatedCollection[JobLogMessage]
	e.must(http.StatusOK, http.MethodGet, strings.TrimSuffix(path, "/output")+"/errors", "", &errs)
	if len(errs.Data) != 0 {
		t.Errorf("errors: %+v", errs.Data)
	}
}

func TestOutputDisconnectReleasesSubscription(t *testing.T) {
	e := newEnv(t)
	_, j, path := e.preview()
	sink := e.ctrl.start(j.ID)
	ctx, cancel := context.WithCancel(context.Background())
	_, ch := e.openSSE(ctx, path)
	waitFor(t, "the subscriber", func() bool { return e.ctrl.hub.Subscribers(j.ID) == 1 })
	if err := sink.Send(ctx, output.Data{OperatorID: "sink_3", Batch: "[]"}); err != nil {
		t.Fatal(err)
	}
	if ev := next(t, ch); ev.id != "0" {
		t.Errorf("first event %+v", ev)
	}
	cancel()
	waitFor(t, "the subscription to be released", func() bool { return e.ctrl.hub.Subscribers(j.ID) == 0 })
	// The job is unaffected.
	if err := sink.Send(context.Background(), output.Data{OperatorID: "sink_3", Batch: "[]"}); err != nil {
		t.Fatal(err)
	}
}

func TestOutputKeepAliveAndDone(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.KeepAlive = 10 * time.Millisecond })
	_, j, path := e.preview()
	sink := e.ctrl.start(j.ID)
	_, ch := e.openSSE(context.Background(), path)
	var comments int
	for comments < 3 {
		select {
		case ev := <-ch:
			if !ev.comment {
				t.Fatalf("unexpected event %+v", ev)
			}
			comments++
		case <-time.After(10 * time.Second):
			t.Fatal("no keep-alive")
		}
	}
	// A subtask's end marker is not forwarded; the job's end is.
	_ = sink.Send(context.Background(), output.Data{OperatorID: "sink_3", Batch: "[]", Done: true})
	e.ctrl.stop(j.ID)
	if ev := next(t, ch); ev.event != "done" {
		t.Errorf("last event %+v", ev)
	}
	for ev := range ch {
		if !ev.comment {
			t.Errorf("event after done: %+v", ev)
		}
	}
}
