package engine

import (
	"context"
	"fmt"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// Checkpointing of ROW_NUMBER: its state is the rows buffered per
// partition, in their order. The snapshot holds them as input rows (the
// key hash, the input columns, the partition's event time); a restore
// feeds them back through Process, which rebuilds the same partitions in
// the same order.

var (
	_ Snapshotter = (*rowNumber)(nil)
	_ Restorer    = (*rowNumber)(nil)
)

// inputSchema is the operator's input: Out without row_number.
func (r *rowNumber) inputSchema() *arrow.Schema {
	f := r.cfg.Out.Fields()
	nf := len(f)
	return arrow.NewSchema(append(append([]arrow.Field(nil), f[:nf-2]...), f[nf-1]), nil)
}

// Snapshot implements Snapshotter.
func (r *rowNumber) Snapshot(context.Context, int64) (*arrow.Schema, []arrow.RecordBatch, error) {
	in := r.inputSchema()
	bld := array.NewRecordBuilder(memory.DefaultAllocator, in)
	defer bld.Release()
	nc := in.NumFields()
	r.parts.Range(func(_ string, p *partition) bool {
		for _, vals := range p.rows {
			for c, v := range vals {
				appendAny(bld.Field(c), v)
			}
			bld.Field(nc - 1).(*array.TimestampBuilder).Append(arrow.Timestamp(p.ts))
		}
		return true
	})
	rows := bld.NewRecordBatch()
	defer rows.Release()
	fields := append([]arrow.Field{{Name: KeyHashColumn, Type: arrow.PrimitiveTypes.Uint64}}, in.Fields()...)
	schema := arrow.NewSchema(fields, nil)
	rec, err := withKeyHash(schema, rows, r.cfg.Partition)
	if err != nil {
		return nil, nil, err
	}
	return schema, []arrow.RecordBatch{rec}, nil
}

// Restore implements Restorer.
func (r *rowNumber) Restore(ctx context.Context, st RestoredState) error {
	in := r.inputSchema()
	for _, p := range st.Parts {
		for _, b := range p.Batches {
			if int(b.NumCols()) != in.NumFields()+1 {
				return fmt.Errorf("row_number state has %d columns, want %d: the query changed since the checkpoint", b.NumCols(), in.NumFields()+1)
			}
			rows := array.NewRecordBatch(in, b.Columns()[1:], b.NumRows())
			err := r.Process(ctx, rows, nil)
			rows.Release()
			if err != nil {
				return err
			}
		}
	}
	return nil
}
