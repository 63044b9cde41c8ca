package output

import (
	"context"
	"errors"
	"io"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestHubFanOutWithStalledReader(t *testing.T) {
	ctx := context.Background()
	const buffer, readers, batches = 4, 3, 100
	h := NewHub(buffer)
	sink := h.Open("job_1")

	var wg sync.WaitGroup
	var mu sync.Mutex
	got := make([][]string, readers)
	received := func() int {
		mu.Lock()
		defer mu.Unlock()
		least := batches
		for _, g := range got {
			least = min(least, len(g))
		}
		return least
	}
	var streams []Stream
	for i := 0; i < readers; i++ {
		s, err := h.Subscribe("job_1")
		if err != nil {
			t.Fatal(err)
		}
		streams = append(streams, s)
	}
	stalled, err := h.Subscribe("job_1")
	if err != nil {
		t.Fatal(err)
	}
	for i, s := range streams {
		wg.Add(1)
		go func(i int, s Stream) {
			defer wg.Done()
			for {
				d, err := s.Recv(ctx)
				if errors.Is(err, io.EOF) {
					return
				}
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				got[i] = append(got[i], d.Batch)
				mu.Unlock()
			}
		}(i, s)
	}
	for i := 0; i < batches; i++ {
		// Publishing never blocks, even with a reader that never reads.
		if err := sink.Send(ctx, Data{Batch: strconv.Itoa(i)}); err != nil {
			t.Fatal(err)
		}
		// Pace the job to the live readers, a round of one buffer at a
		// time, so that only the stalled reader can fall behind.
		if (i+1)%buffer == 0 {
			deadline := time.Now().Add(5 * time.Second)
			for received() < i+1 {
				if time.Now().After(deadline) {
					t.Fatalf("readers stuck at %d of %d", received(), i+1)
				}
				time.Sleep(time.Millisecond)
			}
		}
	}
	h.Close("job_1")
	wg.Wait()
	for i := range got {
		if len(got[i]) != batches {
			t.Fatalf("reader %d got %d batches, want %d", i, len(got[i]), batches)
		}
		for j, b := range got[i] {
			if b != strconv.Itoa(j) {
				t.Fatalf("reader %d batch %d = %q", i, j, b)
			}
		}
		if streams[i].Dropped() != 0 {
			t.Fatalf("reader %d dropped %d", i, streams[i].Dropped())
		}
	}
	if d := stalled.Dropped(); d != batches-buffer {
		t.Fatalf("stalled reader dropped %d, want %d", d, batches-buffer)
	}
	// The stalled reader still drains its buffer, then sees the end.
	n := 0
	for {
		_, err := stalled.Recv(ctx)
		if errors.Is(err, io.EOF) {
			break
		}
		n++
	}
	if n != buffer {
		t.Fatalf("stalled reader drained %d, want %d", n, buffer)
	}
}

func TestHubSubscribeUnknownAndClose(t *testing.T) {
	h := NewHub(2)
	if _, err := h.Subscribe("nope"); !errors.Is(err, ErrUnknownJob) {
		t.Fatalf("err = %v", err)
	}
	h.Open("j")
	s, err := h.Subscribe("j")
	if err != nil {
		t.Fatal(err)
	}
	if h.Subscribers("j") != 1 {
		t.Fatal("want one subscriber")
	}
	s.Close()
	if h.Subscribers("j") != 0 {
		t.Fatal("close must release the subscription")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	s2, _ := h.Subscribe("j")
	if _, err := s2.Recv(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v", err)
	}
	h.Close("j")
	if _, err := s2.Recv(context.Background()); !errors.Is(err, io.EOF) {
		t.Fatalf("err = %v", err)
	}
}

func TestHubReplaysRecentBatchesToLateSubscribers(t *testing.T) {
	ctx := context.Background()
	h := NewHub(2, WithReplay(3))
	sink := h.Open("j")
	for i := 0; i < 5; i++ {
		_ = sink.Send(ctx, Data{Batch: strconv.Itoa(i)})
	}
	s, err := h.Subscribe("j")
	if err != nil {
		t.Fatal(err)
	}
	_ = sink.Send(ctx, Data{Batch: "5"})
	h.Close("j")
	var got []string
	for {
		d, err := s.Recv(ctx)
		if errors.Is(err, io.EOF) {
			break
		}
		got = append(got, d.Batch)
	}
	// The last three before subscribing, then what came after; nothing
	// dropped, since the replay does not eat into the live buffer.
	if strings.Join(got, ",") != "2,3,4,5" || s.Dropped() != 0 {
		t.Fatalf("got %v, dropped %d", got, s.Dropped())
	}
}
