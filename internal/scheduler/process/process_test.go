package process

import (
	"context"
	"io"
	"log/slog"
	"os"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/runnel-dev/runnel/internal/scheduler"
)

// The test binary doubles as a worker: started with this variable set it
// checks its arguments and waits to be killed.
const fakeWorkerEnv = "RUNNEL_TEST_FAKE_WORKER"

func TestMain(m *testing.M) {
	if os.Getenv(fakeWorkerEnv) == "1" {
		if len(os.Args) < 2 || os.Args[1] != "worker" {
			os.Exit(3)
		}
		select {}
	}
	os.Exit(m.Run())
}

func newScheduler(t *testing.T, exited chan<- string) *Scheduler {
	t.Helper()
	s, err := New(Config{
		Binary: os.Args[0],
		Env:    []string{fakeWorkerEnv + "=1"},
		Output: io.Discard,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	s.WatchExits(func(id string, _ error) { exited <- id })
	t.Cleanup(s.Close)
	return s
}

func ids(m map[string]int) []string {
	var out []string
	for id := range m {
		out = append(out, id)
	}
	slices.Sort(out)
	return out
}

func TestStartAndStopWorkers(t *testing.T) {
	exited := make(chan string, 10)
	s := newScheduler(t, exited)
	ctx := context.Background()
	req := scheduler.StartRequest{JobID: "job_a", RunID: 1, Workers: 2, Slots: 2, ControllerAddr: "127.0.0.1:1"}
	if err := s.StartWorkers(ctx, req); err != nil {
		t.Fatal(err)
	}
	other := scheduler.StartRequest{JobID: "job_b", RunID: 3, Workers: 1, Slots: 1, ControllerAddr: "127.0.0.1:1"}
	if err := s.StartWorkers(ctx, other); err != nil {
		t.Fatal(err)
	}
	// Asking again for the same workers starts nothing new.
	if err := s.StartWorkers(ctx, req); err != nil {
		t.Fatal(err)
	}
	want := []string{"job_a-1-0", "job_a-1-1", "job_b-3-0"}
	if got := ids(s.Workers()); !slices.Equal(got, want) {
		t.Fatalf("workers %v, want %v", got, want)
	}
	pids := s.Workers()
	if err := s.StopWorkers(ctx, "job_a", 1); err != nil {
		t.Fatal(err)
	}
	if got := ids(s.Workers()); !slices.Equal(got, []string{"job_b-3-0"}) {
		t.Fatalf("after stopping job_a run 1: workers %v", got)
	}
	for _, id := range []string{"job_a-1-0", "job_a-1-1"} {
		if err := syscall.Kill(pids[id], 0); err == nil {
			t.Errorf("worker %s (pid %d) still runs", id, pids[id])
		}
	}
	// Stopping is no exit to report; stopping what is gone is no error.
	if err := s.StopWorkers(ctx, "job_a", 0); err != nil {
		t.Fatal(err)
	}
	select {
	case id := <-exited:
		t.Fatalf("exit of %s reported for a worker that was stopped", id)
	default:
	}
}

func TestWorkerThatDiesIsReported(t *testing.T) {
	exited := make(chan string, 10)
	s := newScheduler(t, exited)
	req := scheduler.StartRequest{JobID: "job_c", RunID: 2, Workers: 2, Slots: 1, ControllerAddr: "127.0.0.1:1"}
	if err := s.StartWorkers(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(s.Workers()["job_c-2-1"], syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	select {
	case id := <-exited:
		if id != "job_c-2-1" {
			t.Fatalf("exit of %s reported, want job_c-2-1", id)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the killed worker was not reported")
	}
	if got := ids(s.Workers()); !slices.Equal(got, []string{"job_c-2-0"}) {
		t.Fatalf("workers %v after one died", got)
	}
}

func TestBadBinary(t *testing.T) {
	s, err := New(Config{Binary: "/nonexistent/runnel", Output: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	err = s.StartWorkers(context.Background(), scheduler.StartRequest{JobID: "j", RunID: 1, Workers: 1, Slots: 1})
	if err == nil {
		t.Fatal("started a worker from a binary that does not exist")
	}
}
