package engine

import (
	"math"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
)

// The flat path of the window aggregate, for the common case of up to
// three integer-like keys (BIGINT, INT, TIMESTAMP) and numeric aggregates.
// A window's groups are an index from the key values to a group number
// and flat slices of keys and accumulators: nothing in it holds a
// pointer, so the garbage collector never scans it, and there is no
// per-row key encoding or per-group allocation.

const maxFlatKeys = 3

// ikey is the key of a group: the key values and a bitmask of the NULL
// ones (whose values are zero).
type ikey struct {
	v     [maxFlatKeys]int64
	nulls uint8
}

// numAcc is acc without its pointerful fields.
type numAcc struct {
	n, i int64
	f    float64
	set  bool
}

// slotIndex is an open-addressing index (linear probing) from 64-bit
// hashes to entry numbers: a slot holds 32 bits of the hash and the entry
// number plus one (0 is empty), so a probe touches one cache line and the
// owner compares an entry's key only when the hash bits agree. Nothing in
// it is a pointer. Owners probe the slots themselves, since what counts as
// a match differs, and fill an empty slot through fill.
type slotIndex struct {
	slots  []uint64
	mask   uint64
	hashes []uint64 // per entry, to place them again when the index grows
}

func newSlotIndex(hint int) slotIndex {
	size := 16
	for size*3 < hint*4 { // room for hint entries under 3/4 load
		size *= 2
	}
	return slotIndex{slots: make([]uint64, size), mask: uint64(size - 1)}
}

// fill makes the empty slot i point to a new entry of hash h, growing the
// index past 3/4 load, and returns the entry's number.
func (x *slotIndex) fill(i, h uint64) int32 {
	e := int32(len(x.hashes))
	x.slots[i] = h>>32<<32 | uint64(e+1)
	x.hashes = append(x.hashes, h)
	if uint64(len(x.hashes))*4 > uint64(len(x.slots))*3 {
		x.grow()
	}
	return e
}

func (x *slotIndex) grow() {
	x.slots = make([]uint64, 2*len(x.slots))
	x.mask = uint64(len(x.slots) - 1)
	for e, h := range x.hashes {
		i := h & x.mask
		for x.slots[i] != 0 {
			i = (i + 1) & x.mask
		}
		x.slots[i] = h>>32<<32 | uint64(e+1)
	}
}

// flatGroups is a hash table of groups: a slotIndex of their numbers, and
// per group its key and accumulators.
type flatGroups struct {
	slotIndex
	keys []ikey
	accs []numAcc // len(keys) * number of aggregates
}

func newFlatGroups(hint int) *flatGroups {
	return &flatGroups{slotIndex: newSlotIndex(hint)}
}

func (g *flatGroups) len() int { return len(g.keys) }

// hashKey mixes the key values: independent multiplies by odd
// constants, folded, then one multiply-xorshift round so that the low
// bits (the table index) depend on all of them.
func hashKey(k *ikey) uint64 {
	h := uint64(k.v[0])*0x9e3779b97f4a7c15 ^ uint64(k.v[1])*0xc2b2ae3d27d4eb4f ^
		uint64(k.v[2])*0x165667b19e3779f9 ^ uint64(k.nulls)*0xd6e8feb86659fd93
	h ^= h >> 32
	h *= 0xbf58476d1ce4e5b9
	return h ^ h>>29
}

// group returns the number of the group of k, whose hash is h, adding
// it if new.
func (g *flatGroups) group(k *ikey, h uint64, naggs int) int32 {
	fp := h >> 32 << 32
	for i := h & g.mask; ; i = (i + 1) & g.mask {
		s := g.slots[i]
		if s == 0 {
			g.keys = append(g.keys, *k)
			for j := 0; j < naggs; j++ {
				g.accs = append(g.accs, numAcc{})
			}
			return g.fill(i, h)
		}
		if s&^0xffffffff == fp {
			idx := int32(uint32(s)) - 1
			if g.keys[idx] == *k {
				return idx
			}
		}
	}
}

// intCol reads an integer-like column without boxing.
type intCol struct {
	i64   []int64
	i32   []int32
	nulls bool
	valid []byte // validity bitmap, if nulls
	off   int
}

func intColOf(a arrow.Array) (intCol, bool) {
	c := intCol{nulls: a.NullN() > 0}
	if c.nulls {
		c.valid, c.off = a.NullBitmapBytes(), a.Data().Offset()
	}
	switch x := a.(type) {
	case *array.Int64:
		c.i64 = x.Int64Values()
	case *array.Timestamp:
		vs := x.TimestampValues()
		c.i64 = arrow.Int64Traits.CastFromBytes(arrow.TimestampTraits.CastToBytes(vs))
	case *array.Int32:
		c.i32 = x.Int32Values()
	default:
		return c, false
	}
	return c, true
}

func (c *intCol) at(r int) (int64, bool) {
	if c.nulls && c.valid[(c.off+r)>>3]&(1<<((c.off+r)&7)) == 0 {
		return 0, false
	}
	if c.i64 != nil {
		return c.i64[r], true
	}
	return int64(c.i32[r]), true
}

// numCol is an aggregate argument: integers or floats.
type numCol struct {
	ints  intCol
	f64   []float64
	isF   bool
	a     arrow.Array
	nulls bool
	valid []byte // validity bitmap, if nulls
	off   int
}

// flatEligible reports whether the flat path handles the key columns and
// aggregates of batch b.
func (w *windowAgg) flatEligible(b arrow.RecordBatch) bool {
	spec := w.cfg.Window
	if spec.Kind == Session || len(w.cfg.Keys) > maxFlatKeys {
		return false
	}
	for _, k := range w.cfg.Keys {
		if _, ok := intColOf(b.Column(k)); !ok {
			return false
		}
	}
	for _, a := range w.cfg.Aggs {
		switch a.Kind {
		case AggCountStar, AggCount:
		case AggSum, AggAvg, AggMin, AggMax:
			switch b.Column(a.Arg).(type) {
			case *array.Int64, *array.Timestamp, *array.Float64:
			default:
				return false
			}
		default:
			return false
		}
	}
	return true
}

func (w *windowAgg) processFlat(b arrow.RecordBatch, ts []arrow.Timestamp, starts, ends []arrow.Timestamp) int64 {
	n := int(b.NumRows())
	keys := make([]intCol, len(w.cfg.Keys))
	for i, k := range w.cfg.Keys {
		keys[i], _ = intColOf(b.Column(k))
	}
	args := make([]numCol, len(w.cfg.Aggs))
	for i, a := range w.cfg.Aggs {
		if a.Kind == AggCountStar {
			continue
		}
		col := b.Column(a.Arg)
		c := numCol{a: col, nulls: col.NullN() > 0}
		if c.nulls {
			c.valid, c.off = col.NullBitmapBytes(), col.Data().Offset()
		}
		if f, ok := col.(*array.Float64); ok {
			c.f64, c.isF = f.Float64Values(), true
		} else if a.Kind != AggCount {
			c.ints, _ = intColOf(col)
		}
		args[i] = c
	}
	spec := w.cfg.Window
	var late int64
	var k ikey
	var lastStart int64 = math.MinInt64
	var lastWin *window
	var hopLast int64
	var hopWins []*window
	at := func(start, end int64) *window {
		if start == lastStart {
			return lastWin
		}
		win := w.windowAt(start, end)
		if spec.Kind == Tumble {
			lastStart, lastWin = start, win
		}
		return win
	}
	for r := 0; r < n; r++ {
		t := int64(ts[r])
		if t < w.wm {
			late++
			continue
		}
		k = ikey{}
		for i := range keys {
			v, ok := keys[i].at(r)
			if ok {
				k.v[i] = v
			} else {
				k.nulls |= 1 << i
			}
		}
		h := hashKey(&k) // once for all the row's windows
		switch spec.Kind {
		case Tumble:
			start := floorDiv(t, spec.Width) * spec.Width
			w.addFlat(at(start, start+spec.Width), &k, h, args, r)
		case Hop:
			// A row is in the windows starting at last, last - slide, …
			// while after t - width; rows with the same last and number
			// of windows share them.
			last := floorDiv(t, spec.Slide) * spec.Slide
			nw := 0
			for s := last; s > t-spec.Width; s -= spec.Slide {
				nw++
			}
			if last != hopLast || nw != len(hopWins) || hopWins == nil {
				hopWins = hopWins[:0]
				for s := last; s > t-spec.Width; s -= spec.Slide {
					hopWins = append(hopWins, w.windowAt(s, s+spec.Width))
				}
				hopLast = last
			}
			for _, win := range hopWins {
				w.addFlat(win, &k, h, args, r)
			}
		case Given:
			w.addFlat(at(int64(starts[r]), int64(ends[r])), &k, h, args, r)
		}
	}
	return late
}

func (w *windowAgg) addFlat(win *window, k *ikey, h uint64, args []numCol, r int) {
	naggs := len(w.cfg.Aggs)
	g := win.flat.group(k, h, naggs)
	accs := win.flat.accs[int(g)*naggs : int(g)*naggs+naggs]
	for i, spec := range w.cfg.Aggs {
		a := &accs[i]
		if spec.Kind == AggCountStar {
			a.n++
			continue
		}
		c := &args[i]
		if c.nulls && c.valid[(c.off+r)>>3]&(1<<((c.off+r)&7)) == 0 {
			continue
		}
		switch spec.Kind {
		case AggCount:
			a.n++
		case AggSum, AggAvg:
			a.n++
			a.set = true
			if c.isF {
				a.f += c.f64[r]
			} else {
				v, _ := c.ints.at(r)
				// Sums of TIMESTAMPs are not planned; as in update, only
				// BIGINT sums accumulate.
				if c.ints.i64 != nil {
					if _, ts := c.a.(*array.Timestamp); !ts {
						a.i += v
						a.f += float64(v)
					}
				}
			}
		case AggMin, AggMax:
			var c3 int
			if c.isF {
				y := c.f64[r]
				// As better: equal values (including 0 and -0) keep
				// the first; otherwise ordered by <.
				switch {
				case !a.set:
					a.f, a.set = y, true
					continue
				case y == a.f:
				case y < a.f:
					c3 = -1
				default:
					c3 = 1
				}
				if (spec.Kind == AggMin && c3 < 0) || (spec.Kind == AggMax && c3 > 0) {
					a.f = y
				}
				continue
			}
			y, _ := c.ints.at(r)
			if !a.set {
				a.i, a.set = y, true
				continue
			}
			if (spec.Kind == AggMin && y < a.i) || (spec.Kind == AggMax && y > a.i) {
				a.i = y
			}
		}
	}
}

// appendFlatKey appends a key value to a key column's builder.
func appendFlatKey(b array.Builder, v int64, null bool) {
	if null {
		b.AppendNull()
		return
	}
	switch x := b.(type) {
	case *array.Int64Builder:
		x.Append(v)
	case *array.TimestampBuilder:
		x.Append(arrow.Timestamp(v))
	case *array.Int32Builder:
		x.Append(int32(v))
	default:
		b.AppendNull()
	}
}
