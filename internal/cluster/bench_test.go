package cluster

import (
	"slices"
	"testing"
	"time"
)

// BenchmarkCreateToRunning measures how long a pipeline takes from
// POST /pipelines to its job reporting Running, on the embedded cluster
// with the default 500 ms controller poll. It reports the median and the
// worst of b.N creates (run with -benchtime=20x for the figure the README
// quotes).
func BenchmarkCreateToRunning(b *testing.B) {
	cfg := testConfig(&testing.T{}, b.TempDir())
	cfg.Controller.PollInterval = 500 * time.Millisecond
	c, err := Start(b.Context(), cfg, discardLogger())
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = c.Shutdown() }()
	api := client{t: &testing.T{}, base: c.URL()}
	var took []time.Duration
	b.ResetTimer()
	for b.Loop() {
		start := time.Now()
		var p pipeline
		if code := api.do("POST", "/pipelines", map[string]any{"name": "bench", "query": doublerSQL, "parallelism": 1}, &p); code != 200 {
			b.Fatalf("create: %d", code)
		}
		for api.job(p.ID).State != "Running" {
			time.Sleep(2 * time.Millisecond)
		}
		took = append(took, time.Since(start))
		b.StopTimer()
		api.do("PATCH", "/pipelines/"+p.ID, map[string]any{"stop": "immediate"}, nil)
		b.StartTimer()
	}
	slices.Sort(took)
	b.ReportMetric(float64(took[len(took)/2].Milliseconds()), "median-ms")
	b.ReportMetric(float64(took[len(took)-1].Milliseconds()), "max-ms")
}
