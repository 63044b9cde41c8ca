package controller

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/runnel-dev/runnel/bench/nexmark"
	"github.com/runnel-dev/runnel/internal/connectors/filesystem"
	"github.com/runnel-dev/runnel/internal/lifecycle"
	"github.com/runnel-dev/runnel/internal/store"
)

// publishedLines returns every line of the published files in dir, sorted.
func publishedLines(t *testing.T, dir string) []string {
	t.Helper()
	lines, err := filesystem.PublishedLines(dir)
	if err != nil {
		t.Fatal(err)
	}
	return lines
}

// TestNexmarkExactlyOnce runs windowed Nexmark queries (q5: hop windows,
// count and top-1; q8: a windowed join) to a filesystem sink once without
// interruption, then with injected crashes, with a checkpoint stop and a
// start, and with a rescale 1 → 2 → 1: the published rows are identical
// every time.
func TestNexmarkExactlyOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("runs each query four times")
	}
	const events = 40000
	for _, q := range []struct {
		name          string
		eventTimeRate float64
	}{{"q5", 4000}, {"q8", 2000}} {
		t.Run(q.name, func(t *testing.T) {
			h, _ := checkpointHarness(t, nil)
			query := func(dir string) string {
				src := nexmark.Source{Events: events, Seed: 7, EventRate: 20000, FirstEventTime: "2026-01-01T00:00:00Z", EventTimeRate: q.eventTimeRate}
				sql, err := nexmark.Render(q.name, src, fmt.Sprintf("connector = 'filesystem', path = '%s', format = 'json'", dir))
				if err != nil {
					t.Fatal(err)
				}
				return sql
			}
			run := func(name string, disturb func(p store.Pipeline)) []string {
				dir := t.TempDir()
				p := h.createWithInterval(query(dir), 200*time.Millisecond)
				h.waitState(p, lifecycle.Running)
				if disturb != nil {
					disturb(p)
				}
				h.waitState(p, lifecycle.Finished)
				lines := publishedLines(t, dir)
				if len(lines) == 0 {
					t.Fatalf("%s: no output", name)
				}
				return lines
			}
			want := run("uninterrupted", nil)
			check := func(name string, got []string) {
				t.Helper()
				if !slices.Equal(got, want) {
					for _, g := range got {
						if !slices.Contains(want, g) {
							t.Logf("%s: unexpected %s", name, g)
						}
					}
					for _, g := range want {
						if !slices.Contains(got, g) {
							t.Logf("%s: missing %s", name, g)
						}
					}
					t.Errorf("%s: %d rows, want %d identical to the uninterrupted run\n first got  %v\n first want %v", name, len(got), len(want), got[:min(3, len(got))], want[:min(3, len(want))])
				}
			}
			check("crashes", run("crashes", func(p store.Pipeline) {
				for crash := 1; crash <= 2; crash++ {
					h.waitEpoch(p, int64(2*crash))
					h.runner.crash(t, "injected")
					h.waitFor(p, "recovered", func(j store.Job) bool {
						return j.Status.State == lifecycle.Running && j.Status.RunID == int64(crash+1)
					})
				}
			}))
			check("checkpoint stop and start", run("stop", func(p store.Pipeline) {
				h.waitCheckpoints(p, 2)
				h.patch(p, stopMode(lifecycle.StopCheckpoint))
				h.waitState(p, lifecycle.Stopped)
				h.patch(p, stopMode(lifecycle.StopNone))
			}))
			check("rescale 1 → 2 → 1", run("rescale", func(p store.Pipeline) {
				for i, par := range []int{2, 1} {
					h.waitEpoch(p, int64(2+2*i))
					overrides := map[int]int{}
					for _, n := range h.program(p).Nodes {
						overrides[n.ID] = par
					}
					h.patch(p, store.ConfigPatch{ParallelismOverrides: overrides})
					h.waitFor(p, "rescaled", func(j store.Job) bool {
						return j.Status.State == lifecycle.Running && j.Status.RunID == int64(i+2)
					})
				}
			}))
		})
	}
}
