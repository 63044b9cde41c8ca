package client

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"iter"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// OutputOptions tunes an output stream. The zero value is sensible.
type OutputOptions struct {
	// MaxReconnects is how many reconnect attempts in a row the stream
	// makes after its connection drops before it gives up: 0 means 5, a
	// negative value means it never reconnects.
	MaxReconnects int
	// ReconnectDelay is the wait before the first attempt (default 500 ms,
	// or what the server's `retry:` field asks for); it doubles on every
	// failed attempt up to 10 s.
	ReconnectDelay time.Duration
	// IdleTimeout is how long a connection may stay silent (no event and
	// no keep-alive comment) before it is taken for dead and replaced:
	// 0 means 1 minute (the server sends keep-alives every 15 s), a
	// negative value disables the check.
	IdleTimeout time.Duration
	// OnReconnect, if set, is called before each reconnect attempt with
	// the attempt number (from 1) and why the connection was lost.
	OnReconnect func(attempt int, cause error)
}

// OutputStream reads a running preview job's output: the batches its
// preview sink produces, as server-sent events. When the connection
// drops, the stream reconnects and sends the last event id it saw as
// Last-Event-ID, as the SSE protocol does. Runnel's server numbers events
// per connection and keeps no backlog, so batches produced while the
// stream was disconnected are not replayed: Reconnects tells whether that
// may have happened.
//
// An OutputStream is not safe for concurrent use, except Close.
type OutputStream struct {
	c          *Client
	ctx        context.Context
	pipelineID string
	jobID      string
	opts       OutputOptions

	mu   sync.Mutex // guards body against Close from another goroutine
	body io.ReadCloser

	r          *bufio.Reader
	idle       *time.Timer
	lastID     string // id of the last complete event, sent as Last-Event-ID
	idBuf      string // id field of the event being read
	retry      time.Duration
	lost       error // why the current connection ended, nil while it is up
	done       bool
	dropped    int64
	reconnects int
	closed     bool  // guarded by mu
	err        error // sticky: once set, Recv returns it
}

// ErrStreamClosed is what Recv returns after Close.
var ErrStreamClosed = errors.New("output stream closed")

// OpenOutput connects to the output of a preview job, which must be
// Running (the server answers 400 otherwise). ctx governs the whole
// stream, reconnects included; cancel it or call Close to stop reading.
func (c *Client) OpenOutput(ctx context.Context, pipelineID, jobID string, opts *OutputOptions) (*OutputStream, error) {
	s := &OutputStream{c: c, ctx: ctx, pipelineID: pipelineID, jobID: jobID}
	if opts != nil {
		s.opts = *opts
	}
	if s.opts.MaxReconnects == 0 {
		s.opts.MaxReconnects = 5
	}
	if s.opts.ReconnectDelay <= 0 {
		s.opts.ReconnectDelay = 500 * time.Millisecond
	}
	if s.opts.IdleTimeout == 0 {
		s.opts.IdleTimeout = time.Minute
	}
	if err := s.connect(); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *OutputStream) connect() error {
	req, err := s.c.newRequest(s.ctx, request{method: http.MethodGet,
		segments: []string{"pipelines", s.pipelineID, "jobs", s.jobID, "output"}})
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("Cache-Control", "no-cache")
	if s.lastID != "" {
		req.Header.Set("Last-Event-ID", s.lastID)
	}
	resp, err := s.c.send(s.ctx, req)
	if err != nil {
		return err
	}
	if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); mt != "text/event-stream" {
		resp.Body.Close()
		return fmt.Errorf("output of job %s: expected an event stream, got Content-Type %q", s.jobID, resp.Header.Get("Content-Type"))
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		resp.Body.Close()
		return ErrStreamClosed
	}
	s.body = resp.Body
	s.mu.Unlock()
	s.r = bufio.NewReaderSize(resp.Body, 64<<10)
	s.lost = nil
	if s.opts.IdleTimeout > 0 {
		body := resp.Body
		// Closing the body unblocks a read that waits on a dead
		// connection; Recv then reconnects.
		s.idle = time.AfterFunc(s.opts.IdleTimeout, func() { body.Close() })
	}
	return nil
}

func (s *OutputStream) dropConnection(cause error) {
	if s.idle != nil {
		s.idle.Stop()
		s.idle = nil
	}
	s.mu.Lock()
	if s.body != nil {
		s.body.Close()
		s.body = nil
	}
	s.mu.Unlock()
	s.lost = cause
}

// Recv returns the next batch. It returns io.EOF once the output has
// ended: after the server's final `done` event (Done reports true), or
// when the job turned out to have stopped while the stream was
// reconnecting. Other errors are final too: the context's, a
// *ConnectionError when reconnecting failed MaxReconnects times, or an
// *APIError.
func (s *OutputStream) Recv() (OutputData, error) {
	for {
		if s.err != nil {
			return OutputData{}, s.err
		}
		if s.isClosed() {
			s.err = ErrStreamClosed
			continue
		}
		if s.lost != nil {
			if err := s.reconnect(); err != nil {
				s.err = err
				continue
			}
		}
		ev, err := s.readEvent()
		if err != nil {
			if s.ctx.Err() != nil {
				s.dropConnection(s.ctx.Err())
				s.err = fmt.Errorf("output of job %s: %w", s.jobID, s.ctx.Err())
				continue
			}
			switch {
			case s.isClosed():
				s.err = ErrStreamClosed
				continue
			case errors.Is(err, io.EOF):
				err = errors.New("the server closed the stream before its end")
			case s.idle != nil && !s.idle.Stop():
				err = fmt.Errorf("no data or keep-alive for %s", s.opts.IdleTimeout)
			}
			s.dropConnection(err)
			continue
		}
		switch ev.name {
		case "done":
			var d struct {
				Dropped int64 `json:"dropped"`
			}
			if err := json.Unmarshal([]byte(ev.data), &d); err != nil {
				s.err = fmt.Errorf("output of job %s: decoding done event %q: %w", s.jobID, ev.data, err)
				continue
			}
			s.dropped += d.Dropped
			s.done = true
			s.dropConnection(io.EOF)
			s.err = io.EOF
		case "", "message":
			var d OutputData
			if err := json.Unmarshal([]byte(ev.data), &d); err != nil {
				s.err = fmt.Errorf("output of job %s: decoding event %s: %w", s.jobID, s.lastID, err)
				continue
			}
			return d, nil
		}
		// Events of other types are for newer clients; skip them.
	}
}

// reconnect replaces a lost connection, backing off between attempts.
func (s *OutputStream) reconnect() error {
	cause := s.lost
	if s.opts.MaxReconnects < 0 {
		return &ConnectionError{Endpoint: s.c.Endpoint(), Err: fmt.Errorf("output of job %s: %w", s.jobID, cause)}
	}
	delay := s.opts.ReconnectDelay
	if s.retry > 0 {
		delay = s.retry
	}
	for attempt := 1; attempt <= s.opts.MaxReconnects; attempt++ {
		if s.opts.OnReconnect != nil {
			s.opts.OnReconnect(attempt, cause)
		}
		t := time.NewTimer(delay)
		select {
		case <-s.ctx.Done():
			t.Stop()
			return fmt.Errorf("output of job %s: %w", s.jobID, s.ctx.Err())
		case <-t.C:
		}
		err := s.connect()
		if err == nil {
			s.reconnects++
			return nil
		}
		if s.ctx.Err() != nil {
			return fmt.Errorf("output of job %s: %w", s.jobID, s.ctx.Err())
		}
		if errors.Is(err, ErrStreamClosed) {
			return err
		}
		var ae *APIError
		if errors.As(err, &ae) && ae.ClientError() {
			// The server refuses: most likely the job is no longer
			// running, which ends its output.
			if j, jerr := s.c.CurrentJob(s.ctx, s.pipelineID); jerr == nil && j.ID == s.jobID && j.State != StateRunning {
				return io.EOF
			}
			return err
		}
		cause = err
		delay = min(2*delay, 10*time.Second)
	}
	return &ConnectionError{Endpoint: s.c.Endpoint(),
		Err: fmt.Errorf("output of job %s: gave up after %d reconnect attempts: %w", s.jobID, s.opts.MaxReconnects, causeOf(cause))}
}

type sseEvent struct {
	name string
	data string
}

// readEvent reads one event of the text/event-stream format: comment lines
// (the server's `: keep-alive`) only prove the connection alive; `id:`
// and `retry:` update the stream's state; a blank line dispatches the
// event if it has data.
func (s *OutputStream) readEvent() (sseEvent, error) {
	var (
		ev      sseEvent
		data    strings.Builder
		hasData bool
	)
	for {
		line, err := s.r.ReadString('\n')
		if err != nil {
			return sseEvent{}, err // a partial last line is discarded
		}
		if s.idle != nil {
			s.idle.Reset(s.opts.IdleTimeout)
		}
		line = strings.TrimSuffix(strings.TrimSuffix(line, "\n"), "\r")
		if line == "" {
			// As in the SSE spec, an event's id counts once the event is
			// complete, whether or not it carried data.
			s.lastID = s.idBuf
			if !hasData {
				ev = sseEvent{}
				continue
			}
			ev.data = data.String()
			return ev, nil
		}
		if line[0] == ':' {
			continue
		}
		field, value, _ := strings.Cut(line, ":")
		value = strings.TrimPrefix(value, " ")
		switch field {
		case "event":
			ev.name = value
		case "data":
			if hasData {
				data.WriteByte('\n')
			}
			data.WriteString(value)
			hasData = true
		case "id":
			if !strings.ContainsRune(value, 0) {
				s.idBuf = value
			}
		case "retry":
			if ms, err := strconv.ParseUint(value, 10, 31); err == nil {
				s.retry = time.Duration(ms) * time.Millisecond
			}
		}
	}
}

// Batches iterates over the stream's batches until its end, which is not
// an error: an io.EOF from Recv ends the sequence silently. It does not
// close the stream.
func (s *OutputStream) Batches() iter.Seq2[OutputData, error] {
	return func(yield func(OutputData, error) bool) {
		for {
			d, err := s.Recv()
			if errors.Is(err, io.EOF) {
				return
			}
			if !yield(d, err) || err != nil {
				return
			}
		}
	}
}

// Done reports whether the server sent its final `done` event: the job's
// output ended and nothing was missed at the end.
func (s *OutputStream) Done() bool { return s.done }

// Dropped is the number of batches the server dropped for this stream
// because it read too slowly, as reported by the final `done` event.
func (s *OutputStream) Dropped() int64 { return s.dropped }

// Reconnects counts how many times the stream reconnected; output produced
// while it was disconnected is missing.
func (s *OutputStream) Reconnects() int { return s.reconnects }

// LastEventID is the id of the last event received.
func (s *OutputStream) LastEventID() string { return s.lastID }

func (s *OutputStream) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

// Close ends the stream; a Recv blocked in another goroutine returns
// ErrStreamClosed.
func (s *OutputStream) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	if s.body != nil {
		err := s.body.Close()
		s.body = nil
		return err
	}
	return nil
}
