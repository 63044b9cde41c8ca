package filesystem

import (
	"context"
	"fmt"
	"slices"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/runnel-dev/runnel/internal/engine"
)

// The source's checkpointed position: per file, the rows handed on and
// whether it was read to the end. Files are named by path, so a restored
// run at any parallelism resumes each file where it stopped.

var sourceStateSchema = arrow.NewSchema([]arrow.Field{
	{Name: "path", Type: arrow.BinaryTypes.String},
	{Name: "rows", Type: arrow.PrimitiveTypes.Int64},
	{Name: "done", Type: arrow.FixedWidthTypes.Boolean},
}, nil)

var (
	_ engine.Snapshotter = (*Source)(nil)
	_ engine.Restorer    = (*Source)(nil)
)

// Snapshot implements engine.Snapshotter.
func (s *Source) Snapshot(context.Context, int64) (*arrow.Schema, []arrow.RecordBatch, error) {
	b := array.NewRecordBuilder(memory.DefaultAllocator, sourceStateSchema)
	defer b.Release()
	paths := make([]string, 0, len(s.pos)+len(s.done))
	for p := range s.pos {
		paths = append(paths, p)
	}
	for p := range s.done {
		if _, ok := s.pos[p]; !ok {
			paths = append(paths, p)
		}
	}
	slices.Sort(paths)
	for _, p := range paths {
		b.Field(0).(*array.StringBuilder).Append(p)
		b.Field(1).(*array.Int64Builder).Append(s.pos[p])
		b.Field(2).(*array.BooleanBuilder).Append(s.done[p])
	}
	return sourceStateSchema, []arrow.RecordBatch{b.NewRecordBatch()}, nil
}

// Restore implements engine.Restorer: every old subtask's positions, so
// that whichever subtask now reads a file knows how far it got.
func (s *Source) Restore(_ context.Context, st engine.RestoredState) error {
	s.pos, s.done = map[string]int64{}, map[string]bool{}
	for _, p := range st.Parts {
		for _, b := range p.Batches {
			paths, ok1 := b.Column(0).(*array.String)
			rows, ok2 := b.Column(1).(*array.Int64)
			done, ok3 := b.Column(2).(*array.Boolean)
			if b.NumCols() != 3 || !ok1 || !ok2 || !ok3 {
				return fmt.Errorf("filesystem source state: unexpected schema %s", b.Schema())
			}
			for i := 0; i < int(b.NumRows()); i++ {
				path := paths.Value(i)
				s.pos[path] = max(s.pos[path], rows.Value(i))
				s.done[path] = s.done[path] || done.Value(i)
			}
		}
	}
	return nil
}
