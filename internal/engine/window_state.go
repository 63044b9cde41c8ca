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
	_ DeferredSnapshotter = (*windowAgg)(nil)
	_ Restorer            = (*windowAgg)(nil)
)

// accCols are the accumulator fields one aggregate needs, by kind: a
// count keeps n; sum and avg n, i, f and set; min and max i, f, set (and
// s for text); count(DISTINCT) its values.
type accCols struct {
	kind  AggKind
	first int // index of its first column
	text  bool
}

func (w *windowAgg) accLayout(first int) ([]accCols, []arrow.Field) {
	var cols []accCols
	var fields []arrow.Field
	for i, spec := range w.cfg.Aggs {
		c := accCols{kind: spec.Kind, first: first + len(fields)}
		p := fmt.Sprintf("a%d_", i)
		i64 := func(n string) arrow.Field { return arrow.Field{Name: p + n, Type: arrow.PrimitiveTypes.Int64} }
		f64 := arrow.Field{Name: p + "f", Type: arrow.PrimitiveTypes.Float64}
		set := arrow.Field{Name: p + "set", Type: arrow.FixedWidthTypes.Boolean}
		switch spec.Kind {
		case AggCountStar, AggCount:
			fields = append(fields, i64("n"))
		case AggSum, AggAvg:
			fields = append(fields, i64("n"), i64("i"), f64, set)
		case AggMin, AggMax:
			fields = append(fields, i64("i"), f64, set)
			if w.cfg.Out.Field(len(w.cfg.Keys)+1+i).Type.ID() == arrow.STRING {
				c.text = true
				fields = append(fields, arrow.Field{Name: p + "s", Type: arrow.BinaryTypes.String})
			}
		case AggCountDistinct:
			fields = append(fields, arrow.Field{Name: p + "distinct", Type: arrow.ListOf(arrow.BinaryTypes.Binary)})
		}
		cols = append(cols, c)
	}
	return cols, fields
}

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
	_, accs := w.accLayout(len(fields))
	fields = append(fields, accs...)
	md := arrow.NewMetadata([]string{windowModeMeta}, []string{mode})
	return arrow.NewSchema(fields, &md)
}

// Snapshot implements Snapshotter.
func (w *windowAgg) Snapshot(ctx context.Context, epoch int64) (*arrow.Schema, []arrow.RecordBatch, error) {
	build, err := w.SnapshotDeferred(ctx, epoch)
	if err != nil {
		return nil, nil, err
	}
	return build()
}

// SnapshotDeferred implements DeferredSnapshotter. Flat windows are
// copied (their state is a few pointer-free slices) and turned into a
// batch later; the other representations are built now.
func (w *windowAgg) SnapshotDeferred(context.Context, int64) (func() (*arrow.Schema, []arrow.RecordBatch, error), error) {
	schema := w.stateSchema()
	var wins []*window
	if w.cfg.Window.Kind == Session {
		w.sessions.Range(func(_ string, ss []*window) bool {
			wins = append(wins, ss...)
			return true
		})
	} else {
		for _, win := range w.windows {
			wins = append(wins, win)
		}
		sort.Slice(wins, func(i, j int) bool { return wins[i].start < wins[j].start })
	}
	if w.mode != flatMode {
		rec, err := w.stateBatch(schema, wins)
		if err != nil {
			return nil, err
		}
		return func() (*arrow.Schema, []arrow.RecordBatch, error) { return schema, []arrow.RecordBatch{rec}, nil }, nil
	}
	copies := make([]*window, len(wins))
	for i, win := range wins {
		fg := win.flat
		copies[i] = &window{start: win.start, end: win.end, flat: &flatGroups{
			keys: append([]ikey(nil), fg.keys...),
			accs: append([]numAcc(nil), fg.accs...),
		}}
	}
	return func() (*arrow.Schema, []arrow.RecordBatch, error) {
		rec, err := w.stateBatch(schema, copies)
		if err != nil {
			return nil, nil, err
		}
		return schema, []arrow.RecordBatch{rec}, nil
	}, nil
}

// stateBatch builds the state rows of wins. It reads only the windows
// and the operator's configuration, so it may run on another goroutine
// when wins are copies.
func (w *windowAgg) stateBatch(schema *arrow.Schema, wins []*window) (arrow.RecordBatch, error) {
	// The key hash is computed from the finished key columns, so the rows
	// are built without it first.
	body := arrow.NewSchema(schema.Fields()[1:], nil)
	bld := array.NewRecordBuilder(memory.DefaultAllocator, body)
	defer bld.Release()
	nk := len(w.cfg.Keys)
	layout, _ := w.accLayout(nk + 2)
	rows := 0
	for _, win := range wins {
		switch {
		case win.flat != nil:
			rows += len(win.flat.keys)
		case win.groups != nil:
			rows += win.groups.Len()
		}
	}
	bld.Reserve(rows)
	appendWin := func(start, end int64) {
		bld.Field(nk).(*array.Int64Builder).Append(start)
		bld.Field(nk + 1).(*array.Int64Builder).Append(end)
	}
	var scratch acc
	for _, win := range wins {
		if fg := win.flat; fg != nil {
			naggs := len(w.cfg.Aggs)
			for g := range fg.keys {
				k := &fg.keys[g]
				for i := 0; i < nk; i++ {
					appendFlatKey(bld.Field(i), k.v[i], k.nulls&(1<<i) != 0)
				}
				appendWin(win.start, win.end)
				for i, l := range layout {
					na := fg.accs[g*naggs+i]
					scratch = acc{n: na.n, i: na.i, f: na.f, set: na.set}
					appendAcc(bld, l, &scratch)
				}
			}
			continue
		}
		if win.groups == nil {
			continue
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
			for i, l := range layout {
				appendAcc(bld, l, &g.accs[i])
			}
			return true
		})
	}
	rec := bld.NewRecordBatch()
	defer rec.Release()
	keys := make([]int, nk) // the key columns lead the rows
	for i := range keys {
		keys[i] = i
	}
	return withKeyHash(schema, rec, keys)
}

func appendAcc(bld *array.RecordBuilder, l accCols, a *acc) {
	c := l.first
	switch l.kind {
	case AggCountStar, AggCount:
		bld.Field(c).(*array.Int64Builder).Append(a.n)
	case AggSum, AggAvg:
		bld.Field(c).(*array.Int64Builder).Append(a.n)
		bld.Field(c + 1).(*array.Int64Builder).Append(a.i)
		bld.Field(c + 2).(*array.Float64Builder).Append(a.f)
		bld.Field(c + 3).(*array.BooleanBuilder).Append(a.set)
	case AggMin, AggMax:
		bld.Field(c).(*array.Int64Builder).Append(a.i)
		bld.Field(c + 1).(*array.Float64Builder).Append(a.f)
		bld.Field(c + 2).(*array.BooleanBuilder).Append(a.set)
		if l.text {
			bld.Field(c + 3).(*array.StringBuilder).Append(a.s)
		}
	case AggCountDistinct:
		lb := bld.Field(c).(*array.ListBuilder)
		lb.Append(true)
		vb := lb.ValueBuilder().(*array.BinaryBuilder)
		keys := make([]string, 0, len(a.distinct))
		for k := range a.distinct {
			keys = append(keys, k)
		}
		sort.Strings(keys) // the same state gives the same file
		for _, k := range keys {
			vb.AppendString(k)
		}
	}
}

func readAcc(b arrow.RecordBatch, l accCols, r int) acc {
	c := l.first
	var a acc
	switch l.kind {
	case AggCountStar, AggCount:
		a.n = b.Column(c).(*array.Int64).Value(r)
	case AggSum, AggAvg:
		a.n = b.Column(c).(*array.Int64).Value(r)
		a.i = b.Column(c + 1).(*array.Int64).Value(r)
		a.f = b.Column(c + 2).(*array.Float64).Value(r)
		a.set = b.Column(c + 3).(*array.Boolean).Value(r)
	case AggMin, AggMax:
		a.i = b.Column(c).(*array.Int64).Value(r)
		a.f = b.Column(c + 1).(*array.Float64).Value(r)
		a.set = b.Column(c + 2).(*array.Boolean).Value(r)
		if l.text {
			a.s = b.Column(c + 3).(*array.String).Value(r)
		}
	case AggCountDistinct:
		a.distinct = map[string]struct{}{}
		list := b.Column(c).(*array.List)
		vals := list.ListValues().(*array.Binary)
		start, end := list.ValueOffsets(r)
		for j := start; j < end; j++ {
			a.distinct[string(vals.Value(int(j)))] = struct{}{}
		}
	}
	return a
}

// Restore implements Restorer.
func (w *windowAgg) Restore(_ context.Context, st RestoredState) error {
	nk, naggs := len(w.cfg.Keys), len(w.cfg.Aggs)
	want := w.stateSchema().NumFields()
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
	layout, _ := w.accLayout(3 + nk)
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
			for i, l := range layout {
				a := readAcc(b, l, r)
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
			for i, l := range layout {
				g.accs[i] = readAcc(b, l, r)
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
