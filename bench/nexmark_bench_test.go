package bench

import (
	"context"
	"errors"
	"testing"

	"github.com/runnel-dev/runnel/internal/benchrun"
	"github.com/runnel-dev/runnel/internal/sql"
)

// nexmarkEventsPerOp is how many nexmark events one benchmark op runs.
const nexmarkEventsPerOp = 200_000

// runNexmark runs a Nexmark query (bench/nexmark) into a blackhole sink
// per op and reports events/s and events/s per core. A query the planner
// does not support yet is skipped with its diagnostic.
func runNexmark(b *testing.B, query string, par int) {
	if _, err := benchrun.Plan(query, 1, 0, par); err != nil {
		var perr *sql.Error
		if errors.As(err, &perr) {
			b.Skipf("%s: %v", query, err)
		}
		b.Fatal(err)
	}
	b.ReportAllocs()
	var secs float64
	for b.Loop() {
		r, err := benchrun.Run(context.Background(), benchrun.Config{Query: query, Events: nexmarkEventsPerOp, Parallelism: par})
		if err != nil {
			b.Fatal(err)
		}
		secs += r.Seconds
	}
	eps := float64(b.N) * nexmarkEventsPerOp / secs
	b.ReportMetric(eps, "events/s")
	b.ReportMetric(eps/float64(benchrun.Cores(par)), "events/s/core")
}

func BenchmarkNexmarkQ0(b *testing.B)   { runNexmark(b, "q0", 1) }
func BenchmarkNexmarkQ0P2(b *testing.B) { runNexmark(b, "q0", 2) }
func BenchmarkNexmarkQ1(b *testing.B)   { runNexmark(b, "q1", 1) }
func BenchmarkNexmarkQ2(b *testing.B)   { runNexmark(b, "q2", 1) }
func BenchmarkNexmarkQ3(b *testing.B)   { runNexmark(b, "q3", 1) }
func BenchmarkNexmarkQ4(b *testing.B)   { runNexmark(b, "q4", 1) }
func BenchmarkNexmarkQ5(b *testing.B)   { runNexmark(b, "q5", 1) }
func BenchmarkNexmarkQ5P2(b *testing.B) { runNexmark(b, "q5", 2) }
func BenchmarkNexmarkQ7(b *testing.B)   { runNexmark(b, "q7", 1) }
func BenchmarkNexmarkQ8(b *testing.B)   { runNexmark(b, "q8", 1) }
