package filesystem

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/runnel-dev/runnel/internal/connectors"
	"github.com/runnel-dev/runnel/internal/engine"
)

// TestSourceResumesFromCheckpoint reads three files at parallelism 2,
// checkpoints part-way (inside a Collect, as the runtime does), "crashes",
// and resumes at parallelism 1 and 3 from the checkpoint: the rows handed
// on before the checkpoint plus those after the restore are every row
// exactly once.
func TestSourceResumesFromCheckpoint(t *testing.T) {
	dir := t.TempDir()
	const perFile = 3*BatchRows + 17
	for f := 0; f < 3; f++ {
		var sb strings.Builder
		for r := 0; r < perFile; r++ {
			fmt.Fprintf(&sb, "{\"n\": %d}\n", f*perFile+r)
		}
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("in-%d.json", f)), []byte(sb.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cols := []connectors.Column{{Name: "n", Type: arrow.PrimitiveTypes.Int64}}
	tbl := newTable(t, cols, "path", dir, "format", "json")
	crash := errors.New("crash")
	for _, after := range []int{1, 3} {
		t.Run(fmt.Sprintf("resume_at_%d", after), func(t *testing.T) {
			seen := make([]int, 3*perFile)
			var parts []engine.StatePart
			for sub := 0; sub < 2; sub++ {
				src, err := tbl.NewSource(engine.TaskInfo{Subtask: sub, Parallelism: 2})
				if err != nil {
					t.Fatal(err)
				}
				batches := 0
				var kept []int64
				err = src.Run(context.Background(), make(chan struct{}), engine.CollectorFunc(func(ctx context.Context, b arrow.RecordBatch) error {
					batches++
					if batches == 3 {
						// The barrier: the position before this batch.
						_, st, err := src.(engine.Snapshotter).Snapshot(ctx, 1)
						if err != nil {
							return err
						}
						parts = append(parts, engine.StatePart{Subtask: sub, Batches: st})
						for _, n := range kept {
							seen[n]++
						}
						return crash
					}
					ns := b.Column(0).(*array.Int64)
					for i := 0; i < ns.Len(); i++ {
						kept = append(kept, ns.Value(i))
					}
					return nil
				}))
				if !errors.Is(err, crash) {
					t.Fatalf("subtask %d: %v", sub, err)
				}
			}
			for sub := 0; sub < after; sub++ {
				src, err := tbl.NewSource(engine.TaskInfo{Subtask: sub, Parallelism: after})
				if err != nil {
					t.Fatal(err)
				}
				if err := src.(engine.Restorer).Restore(context.Background(), engine.RestoredState{Epoch: 1, Parallelism: 2, Parts: parts}); err != nil {
					t.Fatal(err)
				}
				err = src.Run(context.Background(), make(chan struct{}), engine.CollectorFunc(func(_ context.Context, b arrow.RecordBatch) error {
					ns := b.Column(0).(*array.Int64)
					for i := 0; i < ns.Len(); i++ {
						seen[ns.Value(i)]++
					}
					return nil
				}))
				if err != nil {
					t.Fatal(err)
				}
			}
			for n, c := range seen {
				if c != 1 {
					t.Fatalf("row %d read %d times", n, c)
				}
			}
		})
	}
}
