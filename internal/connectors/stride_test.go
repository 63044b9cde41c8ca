package connectors

import (
	"context"
	"math/rand/v2"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/runnel-dev/runnel/internal/engine"
)

// TestStrideRescales runs a parallel generator of 0..total-1 through a
// series of runs with different parallelism, each checkpointing at a random
// point and then "crashing" (emitting more that is then discarded): the
// numbers kept up to each checkpoint, plus a last run to the end, are every
// number exactly once.
func TestStrideRescales(t *testing.T) {
	const total = 5000
	rng := rand.New(rand.NewPCG(1, 2))
	for trial := 0; trial < 20; trial++ {
		seen := make([]int, total)
		var parts []engine.StatePart // the last checkpoint
		pars := []int{1 + rng.IntN(4), 1 + rng.IntN(4), 1 + rng.IntN(4), 1 + rng.IntN(4)}
		for run, par := range pars {
			last := run == len(pars)-1
			var next []engine.StatePart
			for sub := 0; sub < par; sub++ {
				s := NewStride(sub, par)
				if parts != nil {
					if err := s.Restore(context.Background(), engine.RestoredState{Parts: parts}); err != nil {
						t.Fatal(err)
					}
				}
				steps := rng.IntN(total / par / 2)
				for i := 0; last || i < steps; i++ {
					if s.Peek() >= total {
						break
					}
					seen[s.Next()]++
				}
				_, recs, err := s.Snapshot(context.Background(), 1)
				if err != nil {
					t.Fatal(err)
				}
				next = append(next, engine.StatePart{Subtask: sub, Batches: []arrow.RecordBatch{recs[0]}})
				// Emitted after the checkpoint, then lost in a crash: not
				// counted, and the next run must produce them again.
				for i := 0; i < 3 && !last && s.Peek() < total; i++ {
					s.Next()
				}
			}
			parts = next
		}
		for n, c := range seen {
			if c != 1 {
				t.Fatalf("trial %d (parallelism %v): number %d emitted %d times", trial, pars, n, c)
			}
		}
	}
}
