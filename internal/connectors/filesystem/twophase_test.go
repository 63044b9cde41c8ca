package filesystem

import (
	"context"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/runnel-dev/runnel/internal/engine"
)

func publishedNames(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), ".") {
			names = append(names, e.Name())
		}
	}
	return names
}

// TestTwoPhaseCommit walks the sink through barriers: a snapshot completes
// and hides the file, Commit publishes what its epoch and earlier ones
// pre-committed, a restore publishes a checkpoint's files again without
// harm, and Finish publishes pre-commits whose checkpoint never completed.
func TestTwoPhaseCommit(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	tbl := newTable(t, allColumns, "path", dir, "format", "json")
	b := testBatch(t, 10, 0)
	defer b.Release()
	newSink := func(run int64) *Sink {
		op, err := tbl.NewSink(b.Schema())(engine.TaskInfo{RunID: run, Parallelism: 1})
		if err != nil {
			t.Fatal(err)
		}
		return op.(*Sink)
	}
	sink := newSink(1)
	write := func(s *Sink) {
		if err := s.Process(ctx, b, nil); err != nil {
			t.Fatal(err)
		}
	}
	write(sink)
	_, st1, err := sink.Snapshot(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	write(sink)
	_, st2, err := sink.Snapshot(ctx, 2)
	if err != nil {
		t.Fatal(err)
	}
	if names := publishedNames(t, dir); len(names) != 0 {
		t.Fatalf("published before any commit: %v", names)
	}
	if st2[0].NumRows() != 2 {
		t.Fatalf("epoch 2 state lists %d files, want both uncommitted ones", st2[0].NumRows())
	}
	if err := sink.Commit(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if names := publishedNames(t, dir); len(names) != 1 {
		t.Fatalf("after committing epoch 1: %v", names)
	}

	// A crash now: a new run restores epoch 2 and publishes its files; the
	// one epoch 1 committed is published again harmlessly.
	_ = sink.Close()
	restored := newSink(2)
	if err := restored.Restore(ctx, engine.RestoredState{Epoch: 2, Parallelism: 1, Parts: []engine.StatePart{{Subtask: 0, Batches: st2}}}); err != nil {
		t.Fatal(err)
	}
	if names := publishedNames(t, dir); len(names) != 2 {
		t.Fatalf("after restoring epoch 2: %v", names)
	}

	// Pre-committed at a barrier whose checkpoint never completes, then
	// the input ends: Finish publishes it with the open file.
	write(restored)
	if _, _, err := restored.Snapshot(ctx, 3); err != nil {
		t.Fatal(err)
	}
	write(restored)
	if err := restored.Finish(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if names := publishedNames(t, dir); len(names) != 4 || !slices.IsSorted(names) {
		t.Fatalf("after Finish: %v", names)
	}
	for _, r := range append(st1, st2...) {
		r.Release()
	}
	if err := restored.Close(); err != nil {
		t.Fatal(err)
	}
}
