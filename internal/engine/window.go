package engine

import (
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"sort"
	"sync/atomic"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// WindowKind is the shape of an event-time window.
type WindowKind int

// Window kinds.
const (
	// Tumble windows are fixed, back to back: [k*Width, (k+1)*Width).
	Tumble WindowKind = iota
	// Hop windows of Width start every Slide.
	Hop
	// Session windows of one key close after Gap without rows.
	Session
	// Given windows are read from a window column of the input (the output
	// of an earlier window aggregate), at index Column.
	Given
)

// WindowSpec describes a window; durations are in microseconds.
type WindowSpec struct {
	Kind   WindowKind
	Width  int64
	Slide  int64
	Gap    int64
	Column int
}

func (w WindowSpec) String() string {
	switch w.Kind {
	case Tumble:
		return fmt.Sprintf("tumble(%dµs)", w.Width)
	case Hop:
		return fmt.Sprintf("hop(%dµs, %dµs)", w.Slide, w.Width)
	case Given:
		return fmt.Sprintf("window column #%d", w.Column)
	}
	return fmt.Sprintf("session(%dµs)", w.Gap)
}

// WindowType is the type of the window column: a struct of start and end.
var WindowType = arrow.StructOf(
	arrow.Field{Name: "start", Type: &arrow.TimestampType{Unit: arrow.Microsecond}},
	arrow.Field{Name: "end", Type: &arrow.TimestampType{Unit: arrow.Microsecond}},
)

// AggKind is an aggregate function.
type AggKind int

// Aggregate functions.
const (
	AggCountStar AggKind = iota
	AggCount
	AggCountDistinct
	AggSum
	AggAvg
	AggMin
	AggMax
)

// AggSpec is one aggregate of a window operator.
type AggSpec struct {
	Kind AggKind
	// Arg is the input column (unused by count(*)); it is INT64, FLOAT64,
	// TEXT, BOOLEAN or TIMESTAMP.
	Arg int
}

// WindowAggConfig configures a windowed aggregate. Input batches have the
// key columns, then argument columns, then _timestamp (last). Output
// batches have the keys, the window column (WindowType), one column per
// aggregate, then _timestamp (window end - 1µs).
type WindowAggConfig struct {
	Keys   []int
	Window WindowSpec
	Aggs   []AggSpec
	Out    *arrow.Schema
}

// NewWindowAgg returns the constructor of a windowed aggregate operator.
func NewWindowAgg(cfg WindowAggConfig) func(TaskInfo) (Operator, error) {
	return func(TaskInfo) (Operator, error) {
		if cfg.Out.NumFields() != len(cfg.Keys)+1+len(cfg.Aggs)+1 {
			return nil, fmt.Errorf("window aggregate: output schema has %d fields, want %d", cfg.Out.NumFields(), len(cfg.Keys)+len(cfg.Aggs)+2)
		}
		w := &windowAgg{cfg: cfg, wm: math.MinInt64, windows: map[int64]*window{}, sessions: NewKeyedState[[]*window](), decodable: true}
		for i := range cfg.Keys {
			switch cfg.Out.Field(i).Type.ID() {
			case arrow.INT64, arrow.INT32, arrow.TIMESTAMP, arrow.FLOAT64, arrow.BOOL, arrow.STRING:
			default:
				w.decodable = false
			}
		}
		return w, nil
	}
}

// acc accumulates one aggregate of one group.
type acc struct {
	n        int64 // rows counted (non-null for count(x), sum, avg)
	i        int64
	f        float64
	s        string
	set      bool
	distinct map[string]struct{}
}

type group struct {
	key  []any
	accs []acc
}

type window struct {
	start, end int64
	groups     *KeyedState[*group]
	// flat holds the groups instead of groups on the flat path.
	flat *flatGroups
}

type windowAgg struct {
	cfg WindowAggConfig
	wm  int64
	// windows by start (tumble and hop).
	windows map[int64]*window
	// sessions of each key (session windows), one group each.
	sessions *KeyedState[[]*window]
	late     atomic.Int64
	keyBuf   []byte
	starts   []int64
	// decodable keys are rebuilt from their encoding instead of being
	// kept as Go values per group.
	decodable bool
	// mode is flatMode or genericMode once the first rows arrived.
	mode int8
	// hint is the group count of the last window fired, to size new ones.
	hint int
}

const (
	undecidedMode int8 = iota
	flatMode
	genericMode
)

func (w *windowAgg) LateRows() int64 { return w.late.Load() }

func (w *windowAgg) Finish(ctx context.Context, out Collector) error {
	return w.fire(ctx, math.MaxInt64, out)
}

func (w *windowAgg) ProcessWatermark(ctx context.Context, wm int64, out Collector) error {
	if wm > w.wm {
		w.wm = wm
	}
	return w.fire(ctx, wm, out)
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if (a%b != 0) && ((a < 0) != (b < 0)) {
		q--
	}
	return q
}

// aggInputs picks an aggregate's inputs out of b: its event times (the
// last column), its key columns and each aggregate's argument (nil for
// COUNT(*)).
func aggInputs(what string, b arrow.RecordBatch, keyCols []int, aggs []AggSpec) (ts []arrow.Timestamp, keys, args []arrow.Array, err error) {
	last := b.Column(int(b.NumCols()) - 1)
	tsCol, ok := last.(*array.Timestamp)
	if !ok {
		return nil, nil, nil, fmt.Errorf("%s: last column is %s, not a timestamp", what, last.DataType())
	}
	keys = make([]arrow.Array, len(keyCols))
	for i, k := range keyCols {
		keys[i] = b.Column(k)
	}
	args = make([]arrow.Array, len(aggs))
	for i, a := range aggs {
		if a.Kind != AggCountStar {
			args[i] = b.Column(a.Arg)
		}
	}
	return tsCol.TimestampValues(), keys, args, nil
}

func (w *windowAgg) Process(ctx context.Context, b arrow.RecordBatch, _ Collector) error {
	n := int(b.NumRows())
	ts, keys, args, err := aggInputs("window aggregate", b, w.cfg.Keys, w.cfg.Aggs)
	if err != nil {
		return err
	}
	spec := w.cfg.Window
	var starts, ends []arrow.Timestamp
	if spec.Kind == Given {
		wc, ok := b.Column(spec.Column).(*array.Struct)
		if !ok || wc.NumField() != 2 {
			return fmt.Errorf("window aggregate: column %d is not a window", spec.Column)
		}
		starts = wc.Field(0).(*array.Timestamp).TimestampValues()
		ends = wc.Field(1).(*array.Timestamp).TimestampValues()
	}
	if w.mode == undecidedMode && n > 0 {
		w.mode = genericMode
		if w.flatEligible(b) {
			w.mode = flatMode
		}
	}
	if w.mode == flatMode {
		w.late.Add(w.processFlat(b, ts, starts, ends))
		return nil
	}
	var late int64
	for r := 0; r < n; r++ {
		t := int64(ts[r])
		if t < w.wm {
			late++
			continue
		}
		w.keyBuf = encodeKey(w.keyBuf[:0], keys, r)
		switch spec.Kind {
		case Tumble:
			start := floorDiv(t, spec.Width) * spec.Width
			w.add(w.windowAt(start, start+spec.Width), keys, args, r)
		case Hop:
			last := floorDiv(t, spec.Slide) * spec.Slide
			for s := last; s > t-spec.Width; s -= spec.Slide {
				w.add(w.windowAt(s, s+spec.Width), keys, args, r)
			}
		case Session:
			w.addSession(t, keys, args, r)
		case Given:
			w.add(w.windowAt(int64(starts[r]), int64(ends[r])), keys, args, r)
		}
	}
	w.late.Add(late)
	return nil
}

func (w *windowAgg) windowAt(start, end int64) *window {
	win, ok := w.windows[start]
	if !ok {
		if w.mode == flatMode {
			win = &window{start: start, end: end, flat: newFlatGroups(w.hint)}
		} else {
			win = &window{start: start, end: end, groups: NewKeyedState[*group]()}
		}
		w.windows[start] = win
	}
	return win
}

func (w *windowAgg) newGroup(keys []arrow.Array, r int) *group {
	g := &group{accs: make([]acc, len(w.cfg.Aggs))}
	if w.decodable && w.cfg.Window.Kind != Session {
		// The key is read back from its encoding when the window fires.
		return g
	}
	g.key = make([]any, len(keys))
	for i, k := range keys {
		g.key[i] = valueAt(k, r)
	}
	return g
}

func (w *windowAgg) add(win *window, keys, args []arrow.Array, r int) {
	g, ok := win.groups.GetBytes(w.keyBuf)
	if !ok {
		g = w.newGroup(keys, r)
		win.groups.Put(string(w.keyBuf), g)
	}
	w.update(g, args, r)
}

func (w *windowAgg) addSession(t int64, keys, args []arrow.Array, r int) {
	gap := w.cfg.Window.Gap
	ss, _ := w.sessions.GetBytes(w.keyBuf)
	// The row's own session is [t, t+gap); merge every session it touches.
	cur := &window{start: t, end: t + gap}
	kept := ss[:0:0]
	for _, s := range ss {
		if s.start <= cur.end && cur.start <= s.end {
			if cur.groups == nil {
				cur.groups = s.groups
			} else {
				w.mergeGroups(cur, s)
			}
			cur.start = min(cur.start, s.start)
			cur.end = max(cur.end, s.end)
			continue
		}
		kept = append(kept, s)
	}
	if cur.groups == nil {
		cur.groups = NewKeyedState[*group]()
		cur.groups.Put("", w.newGroup(keys, r))
	}
	g, _ := cur.groups.Get("")
	w.update(g, args, r)
	kept = append(kept, cur)
	sort.Slice(kept, func(i, j int) bool { return kept[i].start < kept[j].start })
	w.sessions.Put(string(w.keyBuf), kept)
}

func (w *windowAgg) mergeGroups(into, from *window) {
	a, _ := into.groups.Get("")
	b, _ := from.groups.Get("")
	for i, spec := range w.cfg.Aggs {
		x, y := &a.accs[i], &b.accs[i]
		switch spec.Kind {
		case AggCountStar, AggCount, AggSum, AggAvg:
			x.n += y.n
			x.i += y.i
			x.f += y.f
			x.set = x.set || y.set
		case AggCountDistinct:
			if x.distinct == nil {
				x.distinct = map[string]struct{}{}
			}
			for k := range y.distinct {
				x.distinct[k] = struct{}{}
			}
		case AggMin, AggMax:
			if !y.set {
				continue
			}
			if !x.set || better(spec.Kind, y, x) {
				x.i, x.f, x.s, x.set = y.i, y.f, y.s, true
			}
		}
	}
}

// better reports whether y beats x for min (smaller) or max (larger);
// exactly one of i, f, s is meaningful per column, so comparing all three
// lexicographically is enough.
func better(k AggKind, y, x *acc) bool {
	c := 0
	switch {
	case y.i != x.i:
		c = cmpInt(y.i, x.i)
	case y.f != x.f:
		if y.f < x.f {
			c = -1
		} else {
			c = 1
		}
	case y.s != x.s:
		if y.s < x.s {
			c = -1
		} else {
			c = 1
		}
	}
	if k == AggMin {
		return c < 0
	}
	return c > 0
}

func cmpInt(a, b int64) int {
	if a < b {
		return -1
	}
	return 1
}

func (w *windowAgg) update(g *group, args []arrow.Array, r int) {
	for i, spec := range w.cfg.Aggs {
		a := &g.accs[i]
		if spec.Kind == AggCountStar {
			a.n++
			continue
		}
		col := args[i]
		if col.IsNull(r) {
			continue
		}
		switch spec.Kind {
		case AggCount:
			a.n++
		case AggCountDistinct:
			if a.distinct == nil {
				a.distinct = map[string]struct{}{}
			}
			a.distinct[string(encodeKey(nil, args[i:i+1], r))] = struct{}{}
		case AggSum, AggAvg:
			a.n++
			a.set = true
			switch c := col.(type) {
			case *array.Int64:
				a.i += c.Value(r)
				a.f += float64(c.Value(r))
			case *array.Float64:
				a.f += c.Value(r)
			}
		case AggMin, AggMax:
			var y acc
			y.set = true
			switch c := col.(type) {
			case *array.Int64:
				y.i = c.Value(r)
			case *array.Timestamp:
				y.i = int64(c.Value(r))
			case *array.Float64:
				y.f = c.Value(r)
			case *array.String:
				y.s = c.Value(r)
			case *array.Boolean:
				if c.Value(r) {
					y.i = 1
				}
			}
			if !a.set || better(spec.Kind, &y, a) {
				a.i, a.f, a.s, a.set = y.i, y.f, y.s, true
			}
		}
	}
}

// fire emits and forgets every window that ends at or before wm.
func (w *windowAgg) fire(ctx context.Context, wm int64, out Collector) error {
	var ready []*window
	var readyKeys [][]any
	if w.cfg.Window.Kind == Session {
		var emptied []string
		w.sessions.Range(func(k string, ss []*window) bool {
			kept := ss[:0]
			for _, s := range ss {
				if s.end <= wm {
					ready = append(ready, s)
					g, _ := s.groups.Get("")
					readyKeys = append(readyKeys, g.key)
				} else {
					kept = append(kept, s)
				}
			}
			if len(kept) == 0 {
				emptied = append(emptied, k)
			} else {
				w.sessions.Put(k, kept)
			}
			return true
		})
		for _, k := range emptied {
			w.sessions.Delete(k)
		}
		// Sessions come out ordered by start, keys in arrival order.
		idx := make([]int, len(ready))
		for i := range idx {
			idx[i] = i
		}
		sort.SliceStable(idx, func(a, b int) bool { return ready[idx[a]].start < ready[idx[b]].start })
		sorted := make([]*window, len(ready))
		for i, j := range idx {
			sorted[i] = ready[j]
		}
		ready = sorted
	} else {
		w.starts = w.starts[:0]
		for s, win := range w.windows {
			if win.end <= wm {
				w.starts = append(w.starts, s)
			}
		}
		sort.Slice(w.starts, func(i, j int) bool { return w.starts[i] < w.starts[j] })
		for _, s := range w.starts {
			ready = append(ready, w.windows[s])
			delete(w.windows, s)
		}
	}
	if len(ready) == 0 {
		return nil
	}
	return w.emit(ctx, ready, out)
}

const maxOutRows = 8192

func (w *windowAgg) emit(ctx context.Context, wins []*window, out Collector) error {
	bld := array.NewRecordBuilder(memory.DefaultAllocator, w.cfg.Out)
	defer bld.Release()
	nk := len(w.cfg.Keys)
	rows := 0
	flush := func() error {
		if rows == 0 {
			return nil
		}
		rb := bld.NewRecordBatch()
		defer rb.Release()
		rows = 0
		return out.Collect(ctx, rb)
	}
	var err error
	for _, win := range wins {
		if win.flat != nil {
			if err = w.emitFlat(bld, win, &rows, flush); err != nil {
				return err
			}
			continue
		}
		win.groups.Range(func(k string, g *group) bool {
			if g.key == nil {
				for i := 0; i < nk; i++ {
					k = decodeInto(bld.Field(i), k)
				}
			}
			for i, v := range g.key {
				appendAny(bld.Field(i), v)
			}
			sb := bld.Field(nk).(*array.StructBuilder)
			sb.Append(true)
			sb.FieldBuilder(0).(*array.TimestampBuilder).Append(arrow.Timestamp(win.start))
			sb.FieldBuilder(1).(*array.TimestampBuilder).Append(arrow.Timestamp(win.end))
			for i, spec := range w.cfg.Aggs {
				w.appendResult(bld.Field(nk+1+i), spec, &g.accs[i])
			}
			bld.Field(nk + 1 + len(w.cfg.Aggs)).(*array.TimestampBuilder).Append(arrow.Timestamp(win.end - 1))
			rows++
			if rows >= maxOutRows {
				if err = flush(); err != nil {
					return false
				}
			}
			return true
		})
		if err != nil {
			return err
		}
	}
	return flush()
}

func (w *windowAgg) appendResult(b array.Builder, spec AggSpec, a *acc) {
	switch spec.Kind {
	case AggCountStar, AggCount:
		b.(*array.Int64Builder).Append(a.n)
	case AggCountDistinct:
		b.(*array.Int64Builder).Append(int64(len(a.distinct)))
	case AggSum:
		if !a.set {
			b.AppendNull()
			return
		}
		switch x := b.(type) {
		case *array.Int64Builder:
			x.Append(a.i)
		case *array.Float64Builder:
			x.Append(a.f)
		}
	case AggAvg:
		if a.n == 0 {
			b.AppendNull()
			return
		}
		b.(*array.Float64Builder).Append(a.f / float64(a.n))
	case AggMin, AggMax:
		if !a.set {
			b.AppendNull()
			return
		}
		switch x := b.(type) {
		case *array.Int64Builder:
			x.Append(a.i)
		case *array.TimestampBuilder:
			x.Append(arrow.Timestamp(a.i))
		case *array.Float64Builder:
			x.Append(a.f)
		case *array.StringBuilder:
			x.Append(a.s)
		case *array.BooleanBuilder:
			x.Append(a.i == 1)
		}
	}
}

// encodeKey appends an unambiguous encoding of row r of cols to buf.
func encodeKey(buf []byte, cols []arrow.Array, r int) []byte {
	for _, c := range cols {
		buf = encodeValue(buf, c, r)
	}
	return buf
}

// encodeValue appends the encoding of row r of c to buf.
func encodeValue(buf []byte, c arrow.Array, r int) []byte {
	{
		if c.IsNull(r) {
			return append(buf, 0)
		}
		buf = append(buf, 1)
		switch x := c.(type) {
		case *array.Int64:
			buf = binary.LittleEndian.AppendUint64(buf, uint64(x.Value(r)))
		case *array.Int32:
			buf = binary.LittleEndian.AppendUint32(buf, uint32(x.Value(r)))
		case *array.Timestamp:
			buf = binary.LittleEndian.AppendUint64(buf, uint64(x.Value(r)))
		case *array.Float64:
			v := x.Value(r)
			if v == 0 {
				v = 0
			}
			buf = binary.LittleEndian.AppendUint64(buf, math.Float64bits(v))
		case *array.Boolean:
			if x.Value(r) {
				buf = append(buf, 1)
			} else {
				buf = append(buf, 0)
			}
		case *array.String:
			s := x.Value(r)
			buf = binary.AppendUvarint(buf, uint64(len(s)))
			buf = append(buf, s...)
		case *array.Struct:
			for i := 0; i < x.NumField(); i++ {
				buf = encodeValue(buf, x.Field(i), r)
			}
		default:
			buf = append(buf, c.ValueStr(r)...)
			buf = append(buf, 0)
		}
	}
	return buf
}

// valueAt returns row r of a as a Go value (nil for NULL).
func valueAt(a arrow.Array, r int) any {
	if a.IsNull(r) {
		return nil
	}
	switch x := a.(type) {
	case *array.Int64:
		return x.Value(r)
	case *array.Int32:
		return x.Value(r)
	case *array.Timestamp:
		return x.Value(r)
	case *array.Float64:
		return x.Value(r)
	case *array.Boolean:
		return x.Value(r)
	case *array.String:
		return x.Value(r)
	case *array.Struct:
		vs := make([]any, x.NumField())
		for i := range vs {
			vs[i] = valueAt(x.Field(i), r)
		}
		return vs
	}
	return a.GetOneForMarshal(r)
}

// appendAny appends a value from valueAt to a builder of the same type.
func appendAny(b array.Builder, v any) {
	if v == nil {
		b.AppendNull()
		return
	}
	switch x := b.(type) {
	case *array.Int64Builder:
		x.Append(v.(int64))
	case *array.Int32Builder:
		x.Append(v.(int32))
	case *array.TimestampBuilder:
		x.Append(v.(arrow.Timestamp))
	case *array.Float64Builder:
		x.Append(v.(float64))
	case *array.BooleanBuilder:
		x.Append(v.(bool))
	case *array.StringBuilder:
		x.Append(v.(string))
	case *array.StructBuilder:
		x.Append(true)
		vs := v.([]any)
		for i := range vs {
			appendAny(x.FieldBuilder(i), vs[i])
		}
	default:
		b.AppendNull()
	}
}

// NewWatermarkGen returns the constructor of a pass-through operator that
// follows a source: its watermark is the largest _timestamp seen (the last
// column) minus delay, in microseconds.
func NewWatermarkGen(delay int64) func(TaskInfo) (Operator, error) {
	return func(TaskInfo) (Operator, error) { return &watermarkGen{delay: delay, max: math.MinInt64}, nil }
}

type watermarkGen struct {
	stateless
	delay int64
	max   int64
}

func (g *watermarkGen) Process(ctx context.Context, b arrow.RecordBatch, out Collector) error {
	if b.NumRows() > 0 {
		if ts, ok := b.Column(int(b.NumCols()) - 1).(*array.Timestamp); ok {
			m := g.max
			for _, v := range ts.TimestampValues() {
				if int64(v) > m {
					m = int64(v)
				}
			}
			g.max = m
		}
	}
	return out.Collect(ctx, b)
}

func (g *watermarkGen) CurrentWatermark() (int64, bool) {
	if g.max == math.MinInt64 {
		return 0, false
	}
	return g.max - g.delay, true
}

// decodeInto appends the first value encoded by encodeKey in s to b and
// returns the rest of s. It handles the types windowAgg marks decodable.
func decodeInto(b array.Builder, s string) string {
	if s[0] == 0 {
		b.AppendNull()
		return s[1:]
	}
	s = s[1:]
	u64 := func() uint64 {
		var v uint64
		for i := 7; i >= 0; i-- {
			v = v<<8 | uint64(s[i])
		}
		return v
	}
	switch x := b.(type) {
	case *array.Int64Builder:
		x.Append(int64(u64()))
		return s[8:]
	case *array.TimestampBuilder:
		x.Append(arrow.Timestamp(u64()))
		return s[8:]
	case *array.Float64Builder:
		x.Append(math.Float64frombits(u64()))
		return s[8:]
	case *array.Int32Builder:
		x.Append(int32(uint32(s[0]) | uint32(s[1])<<8 | uint32(s[2])<<16 | uint32(s[3])<<24))
		return s[4:]
	case *array.BooleanBuilder:
		x.Append(s[0] == 1)
		return s[1:]
	case *array.StringBuilder:
		var n uint64
		var shift uint
		i := 0
		for {
			c := s[i]
			i++
			n |= uint64(c&0x7f) << shift
			if c < 0x80 {
				break
			}
			shift += 7
		}
		x.Append(s[i : i+int(n)])
		return s[i+int(n):]
	}
	panic(fmt.Sprintf("decodeInto: unexpected builder %T", b))
}

func (w *windowAgg) emitFlat(bld *array.RecordBuilder, win *window, rows *int, flush func() error) error {
	nk, naggs := len(w.cfg.Keys), len(w.cfg.Aggs)
	fg := win.flat
	w.hint = fg.len()
	sb := bld.Field(nk).(*array.StructBuilder)
	startB := sb.FieldBuilder(0).(*array.TimestampBuilder)
	endB := sb.FieldBuilder(1).(*array.TimestampBuilder)
	tsB := bld.Field(nk + 1 + naggs).(*array.TimestampBuilder)
	for g := range fg.keys {
		k := &fg.keys[g]
		for i := 0; i < nk; i++ {
			appendFlatKey(bld.Field(i), k.v[i], k.nulls&(1<<i) != 0)
		}
		sb.Append(true)
		startB.Append(arrow.Timestamp(win.start))
		endB.Append(arrow.Timestamp(win.end))
		for i, spec := range w.cfg.Aggs {
			na := &fg.accs[g*naggs+i]
			a := acc{n: na.n, i: na.i, f: na.f, set: na.set}
			w.appendResult(bld.Field(nk+1+i), spec, &a)
		}
		tsB.Append(arrow.Timestamp(win.end - 1))
		*rows++
		if *rows >= maxOutRows {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	win.flat = nil
	return nil
}
