package engine

import (
	"context"
	"errors"
	"fmt"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// Checkpointing of the join: its state is the rows each side holds, in
// arrival order. The snapshot has one row per held row: the key hash, the
// side, the row's event time, then the left columns (NULL for right rows)
// and the right columns (NULL for left rows). A restore feeds each side's
// rows back through ProcessInput, left first, and throws away the matches
// that produces: they were emitted before the checkpoint.

var (
	_ Snapshotter = (*join)(nil)
	_ Restorer    = (*join)(nil)
)

func (j *join) stateSchema() (*arrow.Schema, error) {
	out := j.cfg.Out
	nl := j.cfg.LeftColumns
	if nl <= 0 || nl >= out.NumFields()-1 {
		return nil, errors.New("join: LeftColumns is not set; its state cannot be checkpointed")
	}
	fields := []arrow.Field{
		{Name: KeyHashColumn, Type: arrow.PrimitiveTypes.Uint64},
		{Name: "side", Type: arrow.PrimitiveTypes.Int8},
		{Name: "ts", Type: arrow.PrimitiveTypes.Int64},
	}
	for i := 0; i < out.NumFields()-1; i++ {
		f := out.Field(i)
		f.Name = fmt.Sprintf("c%d_%s", i, f.Name) // both sides may share names
		f.Nullable = true
		fields = append(fields, f)
	}
	return arrow.NewSchema(fields, nil), nil
}

// Snapshot implements Snapshotter.
func (j *join) Snapshot(context.Context, int64) (*arrow.Schema, []arrow.RecordBatch, error) {
	schema, err := j.stateSchema()
	if err != nil {
		return nil, nil, err
	}
	bld := array.NewRecordBuilder(memory.DefaultAllocator, schema)
	defer bld.Release()
	nl, width := j.cfg.LeftColumns, schema.NumFields()-3
	for side, s := range j.sides {
		// Keys hashed as the shuffle into the join did, a held batch at a
		// time (entries of one batch are adjacent).
		var hashes []uint64
		hashed := int32(-1)
		for _, e := range s.entries {
			b := s.batches[e.batch]
			if e.batch != hashed {
				hashes = make([]uint64, b.NumRows())
				if err := HashColumns(b, s.keyCols, hashes); err != nil {
					return nil, nil, err
				}
				hashed = e.batch
			}
			bld.Field(0).(*array.Uint64Builder).Append(hashes[e.row])
			bld.Field(1).(*array.Int8Builder).Append(int8(side))
			bld.Field(2).(*array.Int64Builder).Append(e.ts)
			lo, hi := 0, nl // this side's columns among Out's
			if side == 1 {
				lo, hi = nl, width
			}
			for c := 0; c < width; c++ {
				if c < lo || c >= hi {
					bld.Field(3 + c).AppendNull()
					continue
				}
				appendFrom(bld.Field(3+c), b.Column(c-lo), int(e.row))
			}
		}
	}
	return schema, []arrow.RecordBatch{bld.NewRecordBatch()}, nil
}

// Restore implements Restorer.
func (j *join) Restore(ctx context.Context, st RestoredState) error {
	schema, err := j.stateSchema()
	if err != nil {
		return err
	}
	nl, width := j.cfg.LeftColumns, schema.NumFields()-3
	ts := arrow.Field{Name: TimestampField, Type: &arrow.TimestampType{Unit: arrow.Microsecond}}
	sideSchema := [2]*arrow.Schema{
		arrow.NewSchema(append(append([]arrow.Field(nil), j.cfg.Out.Fields()[:nl]...), ts), nil),
		arrow.NewSchema(append(append([]arrow.Field(nil), j.cfg.Out.Fields()[nl:width]...), ts), nil),
	}
	for side := 0; side < 2; side++ {
		lo, hi := 0, nl
		if side == 1 {
			lo, hi = nl, width
		}
		for _, p := range st.Parts {
			for _, b := range p.Batches {
				if int(b.NumCols()) != schema.NumFields() {
					return fmt.Errorf("join state has %d columns, want %d: the query changed since the checkpoint", b.NumCols(), schema.NumFields())
				}
				sides := b.Column(1).(*array.Int8)
				tss := b.Column(2).(*array.Int64)
				bld := array.NewRecordBuilder(memory.DefaultAllocator, sideSchema[side])
				for r := 0; r < int(b.NumRows()); r++ {
					if int(sides.Value(r)) != side {
						continue
					}
					for c := lo; c < hi; c++ {
						appendFrom(bld.Field(c-lo), b.Column(3+c), r)
					}
					bld.Field(hi - lo).(*array.TimestampBuilder).Append(arrow.Timestamp(tss.Value(r)))
				}
				rows := bld.NewRecordBatch()
				bld.Release()
				err := j.ProcessInput(ctx, side, rows, discardOutput{})
				rows.Release()
				if err != nil {
					return err
				}
			}
		}
	}
	return nil
}
