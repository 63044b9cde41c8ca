package engine

import (
	"context"
	"fmt"
	"sort"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// Checkpointing of the window aggregate. Its state is one row per open
// window and group: the key hash (for rescaling), the key values, the
// window bounds and each aggregate's accumulator. Which of the operator's
// representations (flat, generic, sessions) held the groups is recorded in
// the schema metadata, so a restore rebuilds the same one.

const windowModeMeta = "runnel.window.mode"

var (
	_ Snapshotter = (*windowAgg)(nil)
	_ Restorer    = (*windowAgg)(nil)
)

// accFields are the columns of one aggregate's accumulator.
func accFields(i int) []arrow.Field {
	p := fmt.Sprintf("a%d_", i)
	return []arrow.Field{
		{Name: p + "n", Type: arrow.PrimitiveTypes.Int64},
		{Name: p + "i", Type: arrow.PrimitiveTypes.Int64},
		{Name: p + "f", Type: arrow.PrimitiveTypes.Float64},
		{Name: p + "s", Type: arrow.BinaryTypes.String},
		{Name: p + "set", Type: arrow.FixedWidthTypes.Boolean},
		{Name: p + "distinct", Type: arrow.ListOf(arrow.BinaryTypes.Binary)},
	}
}

const accWidth = 6

func (w *windowAgg) stateSchema() *arrow.Schema {
	mode := "generic"
	switch {
	case w.cfg.Window.Kind == Session:
		mode = "session"
	case w.mode == flatMode:
		mode = "flat"
	}
	fields := []arrow.Field{{Name: KeyHashColumn, Type: arrow.PrimitiveTypes.Uint64}}
	for i := range w.cfg.Keys {
		f := w.cfg.Out.Field(i)
		f.Nullable = true
		fields = append(fields, f)
	}
	fields = append(fields,
		arrow.Field{Name: "window_start", Type: arrow.PrimitiveTypes.Int64},
		arrow.Field{Name: "window_end", Type: arrow.PrimitiveTypes.Int64})
	for i := range w.cfg.Aggs {
		fields = append(fields, accFields(i)...)
	}
	md := arrow.NewMetadata([]string{windowModeMeta}, []string{mode})
	return arrow.NewSchema(fields, &md)
}

// Snapshot implements Snapshotter.
func (w *windowAgg) Snapshot(context.Context, int64) (*arrow.Schema, []arrow.RecordBatch, error) {
	schema := w.stateSchema()
	// The key hash is computed from the finished key columns, so the rows
	// are built without it first.
	body := arrow.NewSchema(schema.Fields()[1:], nil)
	bld := array.NewRecordBuilder(memory.DefaultAllocator, body)
	defer bld.Release()
	nk := len(w.cfg.Keys)
	appendWin := func(start, end int64) {
		bld.Field(nk).(*array.Int64Builder).Append(start)
		bld.Field(nk + 1).(*array.Int64Builder).Append(end)
	}
	appendAccs := func(accs []acc) {
		for i := range w.cfg.Aggs {
			appendAcc(bld, nk+2+i*accWidth, &accs[i])
		}
	}
	appendGroups := func(win *window) {
		if win.flat != nil {
			fg, naggs := win.flat, len(w.cfg.Aggs)
			accs := make([]acc, naggs)
			for g := range fg.keys {
				k := &fg.keys[g]
				for i := 0; i < nk; i++ {
					appendFlatKey(bld.Field(i), k.v[i], k.nulls&(1<<i) != 0)
				}
				appendWin(win.start, win.end)
				for i := range accs {
					na := fg.accs[g*naggs+i]
					accs[i] = acc{n: na.n, i: na.i, f: na.f, set: na.set}
				}
				appendAccs(accs)
			}
			return
		}
		if win.groups == nil {
			return
		}
		win.groups.Range(func(k string, g *group) bool {
			if g.key == nil {
				for i := 0; i < nk; i++ {
					k = decodeInto(bld.Field(i), k)
				}
			} else {
				for i, v := range g.key {
					appendAny(bld.Field(i), v)
				}
			}
			appendWin(win.start, win.end)
			appendAccs(g.accs)
			return true
		})
	}
	if w.cfg.Window.Kind == Session {
		w.sessions.Range(func(_ string, ss []*window) bool {
			for _, s := range ss {
				appendGroups(s)
			}
			return true
		})
	} else {
		starts := make([]int64, 0, len(w.windows))
		for s := range w.windows {
			starts = append(starts, s)
		}
		sort.Slice(starts, func(i, j int) bool { return starts[i] < starts[j] })
		for _, s := range starts {
			appendGroups(w.windows[s])
		}
	}
	rows := bld.NewRecordBatch()
	defer rows.Release()
	rec, err := withKeyHash(schema, rows, nk)
	if err != nil {
		return nil, nil, err
	}
	return schema, []arrow.RecordBatch{rec}, nil
}

// withKeyHash prepends the hash of the first nk columns of rows.
func withKeyHash(schema *arrow.Schema, rows arrow.RecordBatch, nk int) (arrow.RecordBatch, error) {
	n := int(rows.NumRows())
	hashes := make([]uint64, n)
	keyIdx := make([]int, nk)
	for i := range keyIdx {
		keyIdx[i] = i
	}
	if err := HashColumns(rows, keyIdx, hashes); err != nil {
		return nil, err
	}
	hb := array.NewUint64Builder(memory.DefaultAllocator)
	defer hb.Release()
	hb.AppendValues(hashes, nil)
	hcol := hb.NewArray()
	defer hcol.Release()
	cols := append([]arrow.Array{hcol}, rows.Columns()...)
	return array.NewRecordBatch(schema, cols, int64(n)), nil
}

func appendAcc(bld *array.RecordBuilder, c int, a *acc) {
	bld.Field(c).(*array.Int64Builder).Append(a.n)
	bld.Field(c + 1).(*array.Int64Builder).Append(a.i)
	bld.Field(c + 2).(*array.Float64Builder).Append(a.f)
	bld.Field(c + 3).(*array.StringBuilder).Append(a.s)
	bld.Field(c + 4).(*array.BooleanBuilder).Append(a.set)
	lb := bld.Field(c + 5).(*array.ListBuilder)
	if a.distinct == nil {
		lb.AppendNull()
		return
	}
	lb.Append(true)
	vb := lb.ValueBuilder().(*array.BinaryBuilder)
	keys := make([]string, 0, len(a.distinct))
	for k := range a.distinct {
		keys = append(keys, k)
	}
	sort.Strings(keys) // stable files for equal state
	for _, k := range keys {
		vb.AppendString(k)
	}
}

func readAcc(b arrow.RecordBatch, c, r int) acc {
	a := acc{
		n:   b.Column(c).(*array.Int64).Value(r),
		i:   b.Column(c + 1).(*array.Int64).Value(r),
		f:   b.Column(c + 2).(*array.Float64).Value(r),
		s:   b.Column(c + 3).(*array.String).Value(r),
		set: b.Column(c + 4).(*array.Boolean).Value(r),
	}
	l := b.Column(c + 5).(*array.List)
	if l.IsValid(r) {
		a.distinct = map[string]struct{}{}
		vals := l.ListValues().(*array.Binary)
		start, end := l.ValueOffsets(r)
		for j := start; j < end; j++ {
			a.distinct[string(vals.Value(int(j)))] = struct{}{}
		}
	}
	return a
}

// Restore implements Restorer.
func (w *windowAgg) Restore(_ context.Context, st RestoredState) error {
	nk, naggs := len(w.cfg.Keys), len(w.cfg.Aggs)
	want := 1 + nk + 2 + naggs*accWidth
	for _, p := range st.Parts {
		for _, b := range p.Batches {
			if int(b.NumCols()) != want {
				return fmt.Errorf("window state has %d columns, want %d: the query changed since the checkpoint", b.NumCols(), want)
			}
			mode, _ := b.Schema().Metadata().GetValue(windowModeMeta)
			if err := w.restoreBatch(b, mode, nk, naggs); err != nil {
				return err
			}
		}
	}
	if w.cfg.Window.Kind == Session {
		w.sessions.Range(func(k string, ss []*window) bool {
			sort.Slice(ss, func(i, j int) bool { return ss[i].start < ss[j].start })
			return true
		})
	}
	return nil
}

func (w *windowAgg) restoreBatch(b arrow.RecordBatch, mode string, nk, naggs int) error {
	keys := make([]arrow.Array, nk)
	for i := range keys {
		keys[i] = b.Column(1 + i)
	}
	starts := b.Column(1 + nk).(*array.Int64)
	ends := b.Column(2 + nk).(*array.Int64)
	first := 3 + nk
	if b.NumRows() == 0 {
		return nil
	}
	switch mode {
	case "flat":
		w.mode = flatMode
		ints := make([]intCol, nk)
		for i, k := range keys {
			c, ok := intColOf(k)
			if !ok {
				return fmt.Errorf("window state: key %d is %s, not an integer", i, k.DataType())
			}
			ints[i] = c
		}
		for r := 0; r < int(b.NumRows()); r++ {
			var k ikey
			for i := range ints {
				if v, ok := ints[i].at(r); ok {
					k.v[i] = v
				} else {
					k.nulls |= 1 << i
				}
			}
			win := w.windowAt(starts.Value(r), ends.Value(r))
			g := win.flat.group(&k, hashKey(&k), naggs)
			for i := 0; i < naggs; i++ {
				a := readAcc(b, first+i*accWidth, r)
				win.flat.accs[int(g)*naggs+i] = numAcc{n: a.n, i: a.i, f: a.f, set: a.set}
			}
		}
	case "generic", "session":
		if mode == "generic" {
			w.mode = genericMode
		}
		for r := 0; r < int(b.NumRows()); r++ {
			w.keyBuf = encodeKey(w.keyBuf[:0], keys, r)
			g := w.newGroup(keys, r)
			for i := 0; i < naggs; i++ {
				g.accs[i] = readAcc(b, first+i*accWidth, r)
			}
			if mode == "session" {
				groups := NewKeyedState[*group]()
				groups.Put("", g)
				ss, _ := w.sessions.GetBytes(w.keyBuf)
				w.sessions.Put(string(w.keyBuf), append(ss, &window{start: starts.Value(r), end: ends.Value(r), groups: groups}))
				continue
			}
			w.windowAt(starts.Value(r), ends.Value(r)).groups.Put(string(w.keyBuf), g)
		}
	default:
		return fmt.Errorf("window state: unknown representation %q", mode)
	}
	return nil
}
