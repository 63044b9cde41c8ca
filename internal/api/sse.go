package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/runnel-dev/runnel/internal/output"
	"github.com/runnel-dev/runnel/internal/store"
)

// hasPreviewSink reports whether a stored pipeline streams output: a
// preview pipeline always does (its sinks were planned as preview sinks);
// otherwise, as in Arroyo, a node whose operator mentions "preview".
func hasPreviewSink(p store.Pipeline) (bool, error) {
	if p.Preview {
		return true, nil
	}
	g, err := graphOut(p.Graph, nil)
	if err != nil {
		return false, err
	}
	for _, n := range g.Nodes {
		if strings.Contains(strings.ToLower(n.Operator), "preview") {
			return true, nil
		}
	}
	return false, nil
}

// streamOutput serves a preview job's output as server-sent events: one
// `id:`/`data:` event per batch, a keep-alive comment every KeepAlive, and a
// final `event: done` when the job's output ends.
func (s *server) streamOutput(w http.ResponseWriter, r *http.Request) error {
	j, err := s.loadJob(r)
	if err != nil {
		return err
	}
	p, err := s.cfg.Store.GetPipeline(r.Context(), org(r), j.PipelineID)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return errNotFound("Job")
		}
		return fmt.Errorf("reading pipeline %s: %w", j.PipelineID, err)
	}
	ok, err := hasPreviewSink(p)
	if err != nil {
		return fmt.Errorf("pipeline %s: %w", p.ID, err)
	}
	if !ok {
		return errBadRequest("Job does not have a preview sink")
	}
	if s.cfg.Controller == nil {
		return &apiError{Status: http.StatusServiceUnavailable, Message: "controller-service not available"}
	}

	ctx := r.Context()
	stream, err := s.cfg.Controller.SubscribeOutput(ctx, j.ID)
	if err != nil {
		if errors.Is(err, output.ErrUnknownJob) || errors.Is(err, output.ErrNotRunning) {
			return errBadRequest("%s", err.Error())
		}
		return fmt.Errorf("subscribing to output of %s: %w", j.ID, err)
	}
	defer stream.Close()

	ended := s.pump(ctx, w, stream)
	if n := stream.Dropped(); n > 0 {
		s.reportDrops(j, n, ended)
	}
	return nil
}

// recvResult is one Recv outcome handed from the reader goroutine.
type recvResult struct {
	data output.Data
	err  error
}

// pump copies the stream to the client until the stream ends (true) or
// the client goes away or a write fails (false).
func (s *server) pump(ctx context.Context, w http.ResponseWriter, stream output.Stream) bool {
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	// The reader goroutine is gone before the caller closes the stream.
	defer wg.Wait()
	defer cancel()
	rc := http.NewResponseController(w)
	// The server's write timeout is meant for ordinary responses, not for
	// a stream that lasts as long as the job.
	_ = rc.SetWriteDeadline(time.Time{})
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	if rc.Flush() != nil {
		return false
	}

	// Recv blocks, so it runs on its own goroutine and the loop below can
	// interleave keep-alives and notice a disconnect. Cancelling ctx ends
	// the goroutine.
	results := make(chan recvResult)
	wg.Go(func() {
		defer close(results)
		for {
			d, err := stream.Recv(ctx)
			select {
			case results <- recvResult{d, err}:
			case <-ctx.Done():
				return
			}
			if err != nil {
				return
			}
		}
	})

	keepAlive := time.NewTicker(s.cfg.KeepAlive)
	defer keepAlive.Stop()
	var id int64
	write := func(b []byte) bool {
		if _, err := w.Write(b); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
	for {
		select {
		case <-ctx.Done():
			return false
		case <-keepAlive.C:
			if !write([]byte(": keep-alive\n\n")) {
				return false
			}
		case res, open := <-results:
			if !open {
				return false
			}
			if res.err != nil {
				if errors.Is(res.err, io.EOF) {
					done := fmt.Sprintf("event: done\ndata: {\"dropped\":%d}\n\n", stream.Dropped())
					write([]byte(done))
					return true
				}
				if ctx.Err() == nil {
					s.log.WarnContext(ctx, "preview output stream failed", "err", res.err)
				}
				return false
			}
			if res.data.Done {
				continue // end-of-subtask marker; never sent to clients
			}
			payload, err := json.Marshal(res.data)
			if err != nil {
				s.log.ErrorContext(ctx, "encoding preview output", "err", err)
				return false
			}
			event := make([]byte, 0, len(payload)+32)
			event = append(event, "id: "...)
			event = strconv.AppendInt(event, id, 10)
			event = append(event, "\ndata: "...)
			event = append(event, payload...)
			event = append(event, "\n\n"...)
			id++
			if !write(event) {
				return false
			}
		}
	}
}

// reportDrops records in the job's log that a client missed batches, so a
// user wondering about gaps in the preview can find out why.
func (s *server) reportDrops(j store.Job, n int64, ended bool) {
	// The request context may already be cancelled (client gone); the
	// record is still worth writing.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	how := "disconnected"
	if ended {
		how = "reached the end of the output"
	}
	m := store.LogMessage{
		OrgID:     j.OrgID,
		ID:        store.NewID("jlm"),
		JobID:     j.ID,
		CreatedAt: s.now(),
		Level:     store.LevelWarn,
		Message:   fmt.Sprintf("A preview output client missed %d batches", n),
		Details: fmt.Sprintf("A client reading the job's output fell behind and %d batches were dropped for it "+
			"so that the job and other clients were not slowed down; the client %s.", n, how),
	}
	if m.OrgID == "" {
		m.OrgID = store.DefaultOrg
	}
	if err := s.cfg.Store.AddLogMessage(ctx, m); err != nil {
		s.log.Error("recording dropped preview batches", "job", j.ID, "dropped", n, "err", err)
	}
}
