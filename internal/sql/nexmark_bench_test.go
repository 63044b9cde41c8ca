package sql

import (
	"context"
	"io"
	"log/slog"
	"testing"

	"github.com/runnel-dev/runnel/bench/nexmark"
	"github.com/runnel-dev/runnel/internal/engine"
)

// BenchmarkNexmark runs Nexmark queries on the local runner into a
// blackhole sink; events/s is reported per run. With -cpuprofile it gives
// the profile of the whole pipeline.
func BenchmarkNexmark(b *testing.B) {
	const events = 1_000_000
	for _, q := range []string{"q0", "q5", "q7", "q8"} {
		for _, par := range []int{1, 2} {
			b.Run(q+"/p"+string(rune('0'+par)), func(b *testing.B) {
				text, err := nexmark.Render(q, nexmark.Source{Events: events, Seed: 1, FirstEventTime: "2024-01-01T00:00:00Z"}, nexmark.Blackhole)
				if err != nil {
					b.Fatal(err)
				}
				p, err := Plan(text, Options{Parallelism: par})
				if err != nil {
					b.Fatal(err)
				}
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					x, err := (&engine.Local{}).Start(context.Background(), p, engine.RunOptions{Logger: discardLogger()})
					if err != nil {
						b.Fatal(err)
					}
					<-x.Done()
					if err := x.Err(); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(events)*float64(b.N)/b.Elapsed().Seconds(), "events/s")
			})
		}
	}
}

func discardLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }
