package bench

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/runnel-dev/runnel/internal/engine"
	"github.com/runnel-dev/runnel/internal/sql"
)

const pipeline = `
CREATE TABLE impulse WITH (connector = 'impulse', message_count = '%d');
CREATE TABLE out WITH (connector = 'blackhole');
INSERT INTO out
SELECT counter, counter * 2 + 1 AS odd,
       CASE WHEN counter %% 2 = 0 THEN 'even' ELSE 'odd' END AS parity,
       CAST(subtask_index AS TEXT) AS sub
FROM impulse
WHERE counter %% 3 <> 1`

// rowsPerOp is how many source rows one benchmark op pushes through.
const rowsPerOp = 200_000

// runRows runs the pipeline over rowsPerOp rows per op and reports rows/s.
func runRows(b *testing.B, par int, preview bool) {
	q := fmt.Sprintf(pipeline, rowsPerOp)
	p, err := sql.Plan(q, sql.Options{Parallelism: par, Preview: preview, EnableSinks: preview})
	if err != nil {
		b.Fatal(err)
	}
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	b.ReportAllocs()
	var busy time.Duration
	for b.Loop() {
		began := time.Now()
		x, err := engine.NewRunner().Start(context.Background(), p, engine.RunOptions{Logger: logger})
		if err != nil {
			b.Fatal(err)
		}
		<-x.Done()
		busy += time.Since(began)
		if err := x.Err(); err != nil {
			b.Fatal(err)
		}
		if !x.Finished() {
			b.Fatal("not finished")
		}
	}
	b.ReportMetric(float64(b.N)*rowsPerOp/busy.Seconds(), "rows/s")
}

// BenchmarkImpulseToBlackhole: impulse -> filter -> project -> blackhole,
// fused into one task at parallelism 1. One op is rowsPerOp source rows.
func BenchmarkImpulseToBlackhole(b *testing.B) { runRows(b, 1, false) }

// BenchmarkImpulseToBlackholeParallel2 is the same at parallelism 2.
func BenchmarkImpulseToBlackholeParallel2(b *testing.B) { runRows(b, 2, false) }

// BenchmarkImpulseToBlackholeAndPreview adds a preview sink beside the
// blackhole: the chain splits, batches cross a queue and are encoded as
// JSON (with no reader attached).
func BenchmarkImpulseToBlackholeAndPreview(b *testing.B) { runRows(b, 1, true) }

// BenchmarkPlan plans a three-statement query.
func BenchmarkPlan(b *testing.B) {
	q := fmt.Sprintf(pipeline, 1000)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := sql.Plan(q, sql.Options{Parallelism: 4}); err != nil {
			b.Fatal(err)
		}
	}
}
