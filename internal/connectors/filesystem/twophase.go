package filesystem

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/runnel-dev/runnel/internal/engine"
)

// precommits are the files a sink handed to checkpoints and has not
// published yet. The task adds to it at barriers while the controller's
// Commit publishes from it, hence the lock.
type precommits struct {
	mu      sync.Mutex
	byEpoch map[int64][]PendingFile
}

var pendingSchema = arrow.NewSchema([]arrow.Field{
	{Name: "epoch", Type: arrow.PrimitiveTypes.Int64},
	{Name: "temp", Type: arrow.BinaryTypes.String},
	{Name: "final", Type: arrow.BinaryTypes.String},
}, nil)

var (
	_ engine.Snapshotter = (*Sink)(nil)
	_ engine.Restorer    = (*Sink)(nil)
	_ engine.Committer   = (*Sink)(nil)
)

// Snapshot implements engine.Snapshotter: the pre-commit. The open file is
// completed, and every file not yet published is recorded in the
// checkpoint.
func (s *Sink) Snapshot(ctx context.Context, epoch int64) (*arrow.Schema, []arrow.RecordBatch, error) {
	if _, err := s.Flush(ctx); err != nil {
		return nil, nil, err
	}
	c := s.committed
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(s.pending) > 0 {
		c.byEpoch[epoch] = append(c.byEpoch[epoch], s.pending...)
		s.pending = nil
	}
	b := array.NewRecordBuilder(memory.DefaultAllocator, pendingSchema)
	defer b.Release()
	for _, e := range slices.Sorted(maps.Keys(c.byEpoch)) {
		for _, p := range c.byEpoch[e] {
			b.Field(0).(*array.Int64Builder).Append(e)
			b.Field(1).(*array.StringBuilder).Append(p.Temp)
			b.Field(2).(*array.StringBuilder).Append(p.Final)
		}
	}
	return pendingSchema, []arrow.RecordBatch{b.NewRecordBatch()}, nil
}

// Commit implements engine.Committer: publish the files pre-committed at
// epoch and before.
func (s *Sink) Commit(ctx context.Context, epoch int64) error {
	c := s.committed
	c.mu.Lock()
	defer c.mu.Unlock()
	var errs []error
	for e, files := range c.byEpoch {
		if e > epoch {
			continue
		}
		var left []PendingFile
		for _, p := range files {
			if err := publish(p); err != nil {
				errs = append(errs, err)
				left = append(left, p)
			}
		}
		if len(left) > 0 {
			c.byEpoch[e] = left
		} else {
			delete(c.byEpoch, e)
		}
	}
	return errors.Join(errs...)
}

// Restore implements engine.Restorer. The checkpoint it restores from was
// complete, so whatever it pre-committed belongs to the output: publish it
// (again, harmlessly, if the commit had happened). Each old subtask's
// files are published by one new subtask.
func (s *Sink) Restore(ctx context.Context, st engine.RestoredState) error {
	n := max(s.par, 1)
	var errs []error
	for _, part := range st.Parts {
		if part.Subtask%n != s.subtask {
			continue
		}
		for _, b := range part.Batches {
			temp, ok1 := b.Column(1).(*array.String)
			final, ok2 := b.Column(2).(*array.String)
			if b.NumCols() != 3 || !ok1 || !ok2 {
				return fmt.Errorf("filesystem sink state: unexpected schema %s", b.Schema())
			}
			for i := 0; i < int(b.NumRows()); i++ {
				if err := publish(PendingFile{Temp: temp.Value(i), Final: final.Value(i)}); err != nil {
					errs = append(errs, err)
				}
			}
		}
	}
	return errors.Join(errs...)
}

// PublishedLines returns the lines of every published JSON file in dir
// (not the hidden ones in progress or awaiting a commit), sorted: what a
// reader of the sink's output sees. Tests compare runs with it.
func PublishedLines(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var lines []string
	for _, e := range entries {
		if e.IsDir() || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		data, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			return nil, err
		}
		for _, l := range strings.Split(string(data), "\n") {
			if l != "" {
				lines = append(lines, l)
			}
		}
	}
	slices.Sort(lines)
	return lines, nil
}
