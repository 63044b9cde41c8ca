package engine

import (
	"encoding/binary"
	"math"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
)

// min, max and count(DISTINCT) over an updating input cannot be undone
// from the accumulator alone: when the current maximum is retracted the
// next one must be found. Each group then keeps, per such aggregate, the
// multiset of its live argument values (encoded as encodeKey does, with
// their multiplicity). count(DISTINCT) is its size; min and max are kept
// in the accumulator as usual and recomputed from it only when their value
// leaves the group.

// needsMultiset reports whether aggregate k over an updating input keeps
// a multiset of values.
func needsMultiset(k AggKind) bool {
	return k == AggMin || k == AggMax || k == AggCountDistinct
}

// multisetAdd counts row r of col into g's multiset for aggregate i.
func (u *updatingAgg) multisetAdd(g *updGroup, i int, col arrow.Array, r int) {
	if g.multi == nil {
		g.multi = make([]map[string]int64, len(u.cfg.Aggs))
	}
	if g.multi[i] == nil {
		g.multi[i] = map[string]int64{}
	}
	u.valBuf = encodeKey(u.valBuf[:0], []arrow.Array{col}, r)
	g.multi[i][string(u.valBuf)]++
}

// multisetRemove takes row r of col out of g's multiset for aggregate i
// and, for min and max, finds the new extreme if the old one left.
func (u *updatingAgg) multisetRemove(g *updGroup, i int, col arrow.Array, r int) {
	if g.multi == nil || g.multi[i] == nil {
		return // more retractions than appends: emit reports it
	}
	m := g.multi[i]
	u.valBuf = encodeKey(u.valBuf[:0], []arrow.Array{col}, r)
	n := m[string(u.valBuf)] - 1
	if n > 0 {
		m[string(u.valBuf)] = n
		return
	}
	delete(m, string(u.valBuf))
	kind := u.cfg.Aggs[i].Kind
	if kind == AggCountDistinct {
		return
	}
	a := &g.accs[i]
	var gone acc
	decodeAcc(&gone, col.DataType().ID(), string(u.valBuf))
	if a.i != gone.i || a.f != gone.f || a.s != gone.s {
		return // not the extreme: it stands
	}
	*a = acc{}
	for v := range m {
		var y acc
		decodeAcc(&y, col.DataType().ID(), v)
		if !a.set || better(kind, &y, a) {
			*a = y
		}
	}
}

// decodeAcc reads a value encoded by encodeKey (never NULL here: NULL
// arguments are skipped) into the accumulator fields min and max use.
func decodeAcc(a *acc, t arrow.Type, s string) {
	a.set = true
	s = s[1:] // the non-null marker
	switch t {
	case arrow.INT64, arrow.TIMESTAMP:
		a.i = int64(binary.LittleEndian.Uint64([]byte(s[:8])))
	case arrow.FLOAT64:
		a.f = math.Float64frombits(binary.LittleEndian.Uint64([]byte(s[:8])))
	case arrow.BOOL:
		if s[0] == 1 {
			a.i = 1
		}
	case arrow.STRING:
		n, w := binary.Uvarint([]byte(s))
		a.s = s[w : w+int(n)]
	}
}

// appendMultiset writes a group's multiset of one aggregate to the
// snapshot's value and count lists.
func appendMultiset(vb, cb *array.ListBuilder, m map[string]int64) {
	if m == nil {
		vb.AppendNull()
		cb.AppendNull()
		return
	}
	vb.Append(true)
	cb.Append(true)
	vs := vb.ValueBuilder().(*array.BinaryBuilder)
	cs := cb.ValueBuilder().(*array.Int64Builder)
	for v, n := range m {
		vs.AppendString(v)
		cs.Append(n)
	}
}

// readMultiset is appendMultiset's inverse for row r.
func readMultiset(vl, cl *array.List, r int) map[string]int64 {
	if vl.IsNull(r) {
		return nil
	}
	lo, hi := vl.ValueOffsets(r)
	clo, _ := cl.ValueOffsets(r)
	vals := vl.ListValues().(*array.Binary)
	counts := cl.ListValues().(*array.Int64)
	m := make(map[string]int64, hi-lo)
	for k := lo; k < hi; k++ {
		m[string(vals.Value(int(k)))] = counts.Value(int(clo + k - lo))
	}
	return m
}
