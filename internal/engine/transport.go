package engine

import (
	"context"
	"fmt"
	"sync"
)

// TaskAddr names one subtask of one node.
type TaskAddr struct {
	NodeID  int
	Subtask int
}

func (a TaskAddr) String() string { return fmt.Sprintf("%d/%d", a.NodeID, a.Subtask) }

// Transport carries messages between subtasks. The in-process transport
// uses bounded channels; a network transport can implement the same
// interface so that subtasks of one job run on several workers.
type Transport interface {
	// Inbox creates the bounded input queue of the subtask at addr.
	Inbox(addr TaskAddr, capacity int) (Inbox, error)
	// Outbox returns a sender to the inbox at addr.
	Outbox(addr TaskAddr) (Outbox, error)
}

// Inbox is the receiving end of a subtask's input queue.
type Inbox interface {
	// Recv blocks for the next message or until ctx is done.
	Recv(ctx context.Context) (Message, error)
	// Cap is the queue's capacity in messages; Len how many are queued.
	Cap() int
	Len() int
}

// Outbox sends to one subtask's inbox. Send blocks while the queue is full,
// which is how backpressure reaches the sources.
type Outbox interface {
	Send(ctx context.Context, m Message) error
}

// NewLocalTransport returns the in-process transport: one bounded channel
// per subtask input. Wrap it to observe or shape traffic.
func NewLocalTransport() Transport { return newLocalTransport() }

// localTransport connects subtasks of one process with channels.
type localTransport struct {
	mu    sync.Mutex
	boxes map[TaskAddr]chanBox
}

func newLocalTransport() *localTransport {
	return &localTransport{boxes: map[TaskAddr]chanBox{}}
}

func (t *localTransport) Inbox(addr TaskAddr, capacity int) (Inbox, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, ok := t.boxes[addr]; ok {
		return nil, fmt.Errorf("inbox %s exists", addr)
	}
	b := chanBox(make(chan Message, capacity))
	t.boxes[addr] = b
	return b, nil
}

func (t *localTransport) Outbox(addr TaskAddr) (Outbox, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	b, ok := t.boxes[addr]
	if !ok {
		return nil, fmt.Errorf("no inbox %s", addr)
	}
	return b, nil
}

type chanBox chan Message

func (c chanBox) Recv(ctx context.Context) (Message, error) {
	select {
	case m := <-c:
		return m, nil
	case <-ctx.Done():
		return Message{}, ctx.Err()
	}
}

func (c chanBox) Send(ctx context.Context, m Message) error {
	select {
	case c <- m:
		return nil
	default:
	}
	select {
	case c <- m:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (c chanBox) Cap() int { return cap(c) }
func (c chanBox) Len() int { return len(c) }

// drain releases whatever batches are left in an inbox after a run.
func drain(in Inbox) {
	c, ok := in.(chanBox)
	if !ok {
		return
	}
	for {
		select {
		case m := <-c:
			if m.Batch != nil {
				m.Batch.Release()
			}
		default:
			return
		}
	}
}
