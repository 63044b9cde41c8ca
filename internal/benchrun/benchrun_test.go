package benchrun

import (
	"context"
	"encoding/json"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestRunQ0(t *testing.T) {
	for _, par := range []int{1, 2} {
		var mu sync.Mutex
		var seen []int64
		r, err := Run(context.Background(), Config{
			Query: "q0", Events: 20_000, Parallelism: par, Seed: 3,
			ProgressEvery: time.Millisecond,
			Progress: func(done, total int64) {
				if total != 20_000 {
					t.Errorf("progress total %d", total)
				}
				mu.Lock()
				seen = append(seen, done)
				mu.Unlock()
			},
		})
		if err != nil {
			t.Fatalf("par %d: %v", par, err)
		}
		if r.Query != "q0" || r.Events != 20_000 || r.Parallelism != par {
			t.Fatalf("result names the wrong run: %+v", r)
		}
		if !(r.Seconds > 0) || !(r.EventsPerSec > 0) {
			t.Fatalf("no throughput: %+v", r)
		}
		cores := float64(min(par, runtime.NumCPU()))
		if d := r.EventsPerSec/cores - r.EventsPerSecPerCore; d > 1e-6*r.EventsPerSec || d < -1e-6*r.EventsPerSec {
			t.Fatalf("per core %v is not events/s %v over %v cores", r.EventsPerSecPerCore, r.EventsPerSec, cores)
		}
		// q0 forwards bids, so the sink saw batches and measured them.
		if !(r.P50Ms > 0) || r.P99Ms < r.P50Ms {
			t.Fatalf("latency percentiles p50 %v p99 %v", r.P50Ms, r.P99Ms)
		}
		if runtime.GOOS == "linux" && r.PeakRSSBytes < 1<<20 {
			t.Fatalf("peak RSS %d bytes", r.PeakRSSBytes)
		}
		mu.Lock()
		if len(seen) == 0 || seen[len(seen)-1] != 20_000 || !slices.IsSorted(seen) {
			t.Fatalf("progress calls %v: want non-decreasing, ending at the total", seen)
		}
		mu.Unlock()
	}
}

func TestResultJSONKeys(t *testing.T) {
	b, err := json.Marshal(Result{})
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	want := []string{"events", "events_per_sec", "events_per_sec_per_core", "p50_ms", "p99_ms", "parallelism", "peak_rss_bytes", "query", "seconds"}
	var got []string
	for k := range m {
		got = append(got, k)
	}
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Fatalf("keys %v, want %v", got, want)
	}
}

func TestRunErrors(t *testing.T) {
	if _, err := Run(context.Background(), Config{Query: "q99", Events: 10}); err == nil || !strings.Contains(err.Error(), "unknown nexmark query") {
		t.Fatalf("unknown query: %v", err)
	}
	if _, err := Run(context.Background(), Config{Query: "q0", Events: 0}); err == nil {
		t.Fatal("zero events accepted")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Run(ctx, Config{Query: "q0", Events: 1 << 40}); err == nil {
		t.Fatal("cancelled run returned no error")
	}
}

func TestPercentiles(t *testing.T) {
	m := newMeter(1)
	for i := 1; i <= 100; i++ {
		m.latencies = append(m.latencies, time.Duration(101-i)*time.Millisecond)
	}
	p50, p99 := m.percentiles()
	if p50 != 50 || p99 != 99 {
		t.Fatalf("p50 %v p99 %v, want 50 and 99", p50, p99)
	}
}

func TestCores(t *testing.T) {
	if Cores(1) != 1 || Cores(0) != 1 || Cores(1<<20) != runtime.NumCPU() {
		t.Fatalf("Cores: %d %d %d", Cores(1), Cores(0), Cores(1<<20))
	}
}

// TestRunWindowed runs the hop-window top-1 query over several windows of
// event time, so windows fire during the run, not only at the end.
func TestRunWindowed(t *testing.T) {
	r, err := Run(context.Background(), Config{Query: "q5", Events: 30_000, Parallelism: 2, EventTimeRate: 1000})
	if err != nil {
		t.Fatal(err)
	}
	if r.Events != 30_000 || !(r.EventsPerSec > 0) || !(r.P99Ms >= r.P50Ms) || r.P50Ms <= 0 {
		t.Fatalf("implausible result %+v", r)
	}
}

// TestRunSelfJoin: q8 reads the nexmark table twice; the run still counts
// each event once.
func TestRunSelfJoin(t *testing.T) {
	var last int64
	r, err := Run(context.Background(), Config{Query: "q8", Events: 20_000, Parallelism: 2, EventTimeRate: 1000,
		Progress: func(done, _ int64) { last = done }})
	if err != nil {
		t.Fatal(err)
	}
	if r.Events != 20_000 || last != 20_000 {
		t.Fatalf("events %d, last progress %d; want 20000", r.Events, last)
	}
}
