package engine

import (
	"context"
	"fmt"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// Checkpoints of the updating aggregate. Its groups live for the whole job,
// and the rows it emitted are downstream already: restoring without them
// would append a second row per group instead of replacing the first. So
// every group is written with its key (KeyHashColumn first, so groups
// follow their keys on rescale), its row count, whether a row for it is
// out, and each accumulator's fields and multiset of values.

// Per-aggregate state columns, in this order.
var updAccFields = []struct {
	name string
	t    arrow.DataType
}{
	{"n", arrow.PrimitiveTypes.Int64},
	{"i", arrow.PrimitiveTypes.Int64},
	{"f", arrow.PrimitiveTypes.Float64},
	{"s", arrow.BinaryTypes.String},
	{"set", arrow.FixedWidthTypes.Boolean},
	{"distinct", arrow.ListOf(arrow.BinaryTypes.Binary)},
	{"multi_values", arrow.ListOf(arrow.BinaryTypes.Binary)},
	{"multi_counts", arrow.ListOf(arrow.PrimitiveTypes.Int64)},
}

// snapshotRows bounds the groups per state batch.
const snapshotRows = 1 << 16

func (u *updatingAgg) stateSchemas() (keys, rest, all *arrow.Schema) {
	nk := len(u.cfg.Keys)
	kf := make([]arrow.Field, nk)
	for i := range kf {
		f := u.cfg.Out.Field(i)
		kf[i] = arrow.Field{Name: fmt.Sprintf("key_%d", i), Type: f.Type, Nullable: true}
	}
	rf := []arrow.Field{
		{Name: "rows", Type: arrow.PrimitiveTypes.Int64},
		{Name: "emitted", Type: arrow.FixedWidthTypes.Boolean},
	}
	for j := range u.cfg.Aggs {
		for _, af := range updAccFields {
			rf = append(rf, arrow.Field{Name: fmt.Sprintf("agg_%d_%s", j, af.name), Type: af.t, Nullable: true})
		}
	}
	fields := append([]arrow.Field{{Name: KeyHashColumn, Type: arrow.PrimitiveTypes.Uint64}}, kf...)
	fields = append(fields, rf...)
	return arrow.NewSchema(kf, nil), arrow.NewSchema(rf, nil), arrow.NewSchema(fields, nil)
}

// Snapshot implements Snapshotter.
func (u *updatingAgg) Snapshot(context.Context, int64) (*arrow.Schema, []arrow.RecordBatch, error) {
	keySchema, restSchema, schema := u.stateSchemas()
	kb := array.NewRecordBuilder(memory.DefaultAllocator, keySchema)
	defer kb.Release()
	rb := array.NewRecordBuilder(memory.DefaultAllocator, restSchema)
	defer rb.Release()
	var out []arrow.RecordBatch
	fail := func(err error) (*arrow.Schema, []arrow.RecordBatch, error) {
		for _, b := range out {
			b.Release()
		}
		return nil, nil, err
	}
	n := 0
	flush := func() error {
		if n == 0 {
			return nil
		}
		keys := kb.NewRecordBatch()
		defer keys.Release()
		rest := rb.NewRecordBatch()
		defer rest.Release()
		all := make([]int, keys.NumCols())
		for i := range all {
			all[i] = i
		}
		ha, err := keyHashes(keys, all)
		if err != nil {
			return fmt.Errorf("updating aggregate snapshot: %w", err)
		}
		defer ha.Release()
		cols := append([]arrow.Array{ha}, keys.Columns()...)
		cols = append(cols, rest.Columns()...)
		out = append(out, array.NewRecordBatch(schema, cols, int64(n)))
		n = 0
		return nil
	}
	var err error
	u.groups.Range(func(_ string, g *updGroup) bool {
		for i, v := range g.key {
			appendAny(kb.Field(i), v)
		}
		rb.Field(0).(*array.Int64Builder).Append(g.rows)
		rb.Field(1).(*array.BooleanBuilder).Append(g.emitted)
		for j := range g.accs {
			a := &g.accs[j]
			at := 2 + j*len(updAccFields)
			rb.Field(at).(*array.Int64Builder).Append(a.n)
			rb.Field(at + 1).(*array.Int64Builder).Append(a.i)
			rb.Field(at + 2).(*array.Float64Builder).Append(a.f)
			rb.Field(at + 3).(*array.StringBuilder).Append(a.s)
			rb.Field(at + 4).(*array.BooleanBuilder).Append(a.set)
			var multi map[string]int64
			if g.multi != nil {
				multi = g.multi[j]
			}
			appendMultiset(rb.Field(at+6).(*array.ListBuilder), rb.Field(at+7).(*array.ListBuilder), multi)
			lb := rb.Field(at + 5).(*array.ListBuilder)
			if a.distinct == nil {
				lb.AppendNull()
				continue
			}
			lb.Append(true)
			vb := lb.ValueBuilder().(*array.BinaryBuilder)
			for v := range a.distinct {
				vb.AppendString(v)
			}
		}
		n++
		if n >= snapshotRows {
			err = flush()
		}
		return err == nil
	})
	if err == nil {
		err = flush()
	}
	if err != nil {
		return fail(err)
	}
	if len(out) == 0 {
		return nil, nil, nil
	}
	return schema, out, nil
}

// Restore implements Restorer: it rebuilds the groups this subtask owns.
func (u *updatingAgg) Restore(_ context.Context, st RestoredState) error {
	_, _, schema := u.stateSchemas()
	nk := len(u.cfg.Keys)
	for _, p := range st.Parts {
		for _, b := range p.Batches {
			if !b.Schema().Equal(schema) {
				return fmt.Errorf("updating aggregate: state schema %s, want %s", b.Schema(), schema)
			}
			if err := u.restoreBatch(b, nk); err != nil {
				return err
			}
		}
	}
	return nil
}

func (u *updatingAgg) restoreBatch(b arrow.RecordBatch, nk int) error {
	keys := b.Columns()[1 : 1+nk]
	rest := b.Columns()[1+nk:]
	rows := rest[0].(*array.Int64)
	emitted := rest[1].(*array.Boolean)
	for r := 0; r < int(b.NumRows()); r++ {
		u.keyBuf = encodeKey(u.keyBuf[:0], keys, r)
		if _, dup := u.groups.GetBytes(u.keyBuf); dup {
			return fmt.Errorf("updating aggregate: a group is in the checkpoint twice")
		}
		g := &updGroup{group: group{key: make([]any, nk), accs: make([]acc, len(u.cfg.Aggs))}, rows: rows.Value(r), emitted: emitted.Value(r)}
		for i, k := range keys {
			g.key[i] = valueAt(k, r)
		}
		for j := range g.accs {
			at := 2 + j*len(updAccFields)
			a := &g.accs[j]
			a.n = rest[at].(*array.Int64).Value(r)
			a.i = rest[at+1].(*array.Int64).Value(r)
			a.f = rest[at+2].(*array.Float64).Value(r)
			a.s = rest[at+3].(*array.String).Value(r)
			a.set = rest[at+4].(*array.Boolean).Value(r)
			if m := readMultiset(rest[at+6].(*array.List), rest[at+7].(*array.List), r); m != nil {
				if g.multi == nil {
					g.multi = make([]map[string]int64, len(g.accs))
				}
				g.multi[j] = m
			}
			l := rest[at+5].(*array.List)
			if l.IsNull(r) {
				continue
			}
			lo, hi := l.ValueOffsets(r)
			vals := l.ListValues().(*array.Binary)
			a.distinct = make(map[string]struct{}, hi-lo)
			for k := lo; k < hi; k++ {
				a.distinct[string(vals.Value(int(k)))] = struct{}{}
			}
		}
		u.groups.Put(string(u.keyBuf), g)
	}
	return nil
}
