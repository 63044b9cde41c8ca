package output

import (
	"context"
	"io"
	"sync"
	"sync/atomic"
)

// Hub fans each job's preview output out to its subscribers. Every
// subscriber has a bounded buffer; when it is full the batch is dropped for
// that subscriber only and counted, so one stalled client can neither block
// the job nor starve the others.
type Hub struct {
	buffer int
	replay int

	mu     sync.Mutex
	topics map[string]*topic
}

// NewHub returns a hub whose subscribers buffer up to buffer batches.
func NewHub(buffer int, opts ...Option) *Hub {
	if buffer < 1 {
		buffer = 1
	}
	h := &Hub{buffer: buffer, topics: make(map[string]*topic)}
	for _, o := range opts {
		o(h)
	}
	return h
}

// Option configures a Hub.
type Option func(*Hub)

// WithReplay keeps a job's last n batches and hands them to each new
// subscriber first, so a client that connects a moment after the job
// started (or reconnects) still sees its first rows.
func WithReplay(n int) Option {
	return func(h *Hub) { h.replay = max(n, 0) }
}

type topic struct {
	mu     sync.Mutex
	subs   map[*subscription]struct{}
	recent []Data // the last batches, oldest first, at most Hub.replay
	closed bool
}

// Open starts (or reopens) a job's output and returns the sink the job
// writes to. Reopening after Close starts a fresh topic.
func (h *Hub) Open(jobID string) Sink {
	h.mu.Lock()
	defer h.mu.Unlock()
	t, ok := h.topics[jobID]
	if !ok || t.closed {
		t = &topic{subs: make(map[*subscription]struct{})}
		h.topics[jobID] = t
	}
	return sinkFunc(func(_ context.Context, d Data) error {
		t.publish(d, h.replay)
		return nil
	})
}

// Subscribe attaches a new reader to a job's output. Readers see only
// batches published after they subscribe.
func (h *Hub) Subscribe(jobID string) (Stream, error) {
	h.mu.Lock()
	t, ok := h.topics[jobID]
	h.mu.Unlock()
	if !ok {
		return nil, ErrUnknownJob
	}
	s := &subscription{ch: make(chan Data, h.buffer+h.replay), done: make(chan struct{}), topic: t}
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, d := range t.recent {
		s.ch <- d // fits: the channel has room for the whole replay
	}
	if t.closed {
		close(s.done)
		return s, nil
	}
	t.subs[s] = struct{}{}
	return s, nil
}

// Subscribers reports how many readers a job has (for tests and metrics).
func (h *Hub) Subscribers(jobID string) int {
	h.mu.Lock()
	t, ok := h.topics[jobID]
	h.mu.Unlock()
	if !ok {
		return 0
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.subs)
}

// Close ends a job's output: every reader gets io.EOF once it has drained
// what it buffered, and the topic is forgotten.
func (h *Hub) Close(jobID string) {
	h.mu.Lock()
	t, ok := h.topics[jobID]
	delete(h.topics, jobID)
	h.mu.Unlock()
	if !ok {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return
	}
	t.closed = true
	for s := range t.subs {
		close(s.done)
	}
	t.subs = nil
}

func (t *topic) publish(d Data, replay int) {
	if d.Done {
		return // end of a subtask's output; Close ends the streams
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if replay > 0 {
		if len(t.recent) == replay {
			copy(t.recent, t.recent[1:])
			t.recent = t.recent[:replay-1]
		}
		t.recent = append(t.recent, d)
	}
	for s := range t.subs {
		select {
		case s.ch <- d:
		default:
			s.dropped.Add(1)
		}
	}
}

func (t *topic) remove(s *subscription) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.subs, s)
}

type subscription struct {
	ch      chan Data
	done    chan struct{} // closed by the hub when the job's output ends
	topic   *topic
	dropped atomic.Int64
	once    sync.Once
}

func (s *subscription) Recv(ctx context.Context) (Data, error) {
	// Prefer buffered data so a reader sees everything sent before the end.
	select {
	case d := <-s.ch:
		return d, nil
	default:
	}
	select {
	case d := <-s.ch:
		return d, nil
	case <-s.done:
		select {
		case d := <-s.ch:
			return d, nil
		default:
			return Data{}, io.EOF
		}
	case <-ctx.Done():
		return Data{}, ctx.Err()
	}
}

func (s *subscription) Dropped() int64 { return s.dropped.Load() }

func (s *subscription) Close() {
	s.once.Do(func() { s.topic.remove(s) })
}

type sinkFunc func(ctx context.Context, d Data) error

func (f sinkFunc) Send(ctx context.Context, d Data) error { return f(ctx, d) }
