package engine

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"math/bits"
	"math/rand/v2"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// JoinConfig configures an inner equi-join of two inputs (input 0 is the
// left side). Both sides keep their rows in keyed state; a row is matched
// against the other side's rows of its key as it arrives, and rows whose
// event time falls more than TTL behind the watermark are forgotten. A
// windowed join (the keys include both sides' window columns) uses TTL 0:
// a window's rows all arrive before the watermark passes its end, so they
// can be dropped then. Output rows are the left columns, the right
// columns, then _timestamp (the later of the two).
type JoinConfig struct {
	LeftKey, RightKey []int
	TTL               int64 // µs
	Out               *arrow.Schema
	// LeftColumns is how many of Out's columns come from the left input
	// (which has those, then _timestamp); checkpoints need it to rebuild
	// each side's rows.
	LeftColumns int
}

// NewJoin returns the constructor of a join operator.
func NewJoin(cfg JoinConfig) func(TaskInfo) (Operator, error) {
	return func(TaskInfo) (Operator, error) {
		if len(cfg.LeftKey) != len(cfg.RightKey) || len(cfg.LeftKey) == 0 {
			return nil, fmt.Errorf("join: key lengths %d and %d", len(cfg.LeftKey), len(cfg.RightKey))
		}
		j := &join{cfg: cfg, seed: rand.Uint64()}
		for i := range j.sides {
			j.sides[i] = &joinSide{index: newChainTable(0), minTs: math.MaxInt64, seed: j.seed}
		}
		j.sides[0].keyCols, j.sides[1].keyCols = cfg.LeftKey, cfg.RightKey
		return j, nil
	}
}

// A join side keeps the batches it received (retained, not copied) and
// an index of their rows by key hash. The index and the row entries hold
// no pointers, so the garbage collector does not scan them, and a row
// costs 24 bytes of state besides its share of the batch.
type joinSide struct {
	keyCols []int
	batches []arrow.RecordBatch // nil once none of its rows is live
	live    []int32             // live rows per batch
	entries []joinEntry
	index   *chainTable
	minTs   int64
	seed    uint64 // the join's, shared by both sides
}

// joinEntry is one stored row; next links the rows of one hash, in
// arrival order.
type joinEntry struct {
	batch, row, next int32
	ts               int64
}

type chain struct{ head, tail int32 }

// chainTable maps key hashes to the chains of rows with that hash, through
// a slotIndex of chain numbers. Keys are told apart by the 32 hash bits of
// a slot only: the rare keys that share them share a chain, and the join
// compares the keys of the rows it finds anyway.
type chainTable struct {
	slotIndex
	chains []chain
}

func newChainTable(hint int) *chainTable {
	return &chainTable{slotIndex: newSlotIndex(hint)}
}

// get returns the chain of hash h.
func (t *chainTable) get(h uint64) (*chain, bool) {
	fp := h >> 32 << 32
	for i := h & t.mask; ; i = (i + 1) & t.mask {
		s := t.slots[i]
		if s == 0 {
			return nil, false
		}
		if s&^0xffffffff == fp {
			return &t.chains[int32(uint32(s))-1], true
		}
	}
}

// add appends row e to the chain of hash h, given entries to link.
func (t *chainTable) add(h uint64, e int32, entries []joinEntry) {
	fp := h >> 32 << 32
	for i := h & t.mask; ; i = (i + 1) & t.mask {
		s := t.slots[i]
		if s == 0 {
			t.chains = append(t.chains, chain{e, e})
			t.fill(i, h)
			return
		}
		if s&^0xffffffff == fp {
			ch := &t.chains[int32(uint32(s))-1]
			entries[ch.tail].next = e
			ch.tail = e
			return
		}
	}
}

// hashBytes hashes an encoded key, eight bytes at a time.
func hashBytes(seed uint64, b []byte) uint64 {
	h := seed ^ uint64(len(b))*0x9e3779b97f4a7c15
	for len(b) >= 8 {
		hi, lo := bits.Mul64(h^binary.LittleEndian.Uint64(b), 0xbf58476d1ce4e5b9)
		h = hi ^ lo
		b = b[8:]
	}
	if len(b) > 0 {
		var t uint64
		for i, c := range b {
			t |= uint64(c) << (8 * i)
		}
		hi, lo := bits.Mul64(h^t, 0x94d049bb133111eb)
		h = hi ^ lo
	}
	h = (h ^ (h >> 30)) * 0xbf58476d1ce4e5b9
	h = (h ^ (h >> 27)) * 0x94d049bb133111eb
	return h ^ (h >> 31)
}

type join struct {
	cfg    JoinConfig
	sides  [2]*joinSide
	seed   uint64
	keyBuf []byte
	cmpBuf []byte
	keys   []arrow.Array
	other  []arrow.Array
}

func (j *join) Process(context.Context, arrow.RecordBatch, Collector) error {
	return fmt.Errorf("join: input without an index")
}

func (j *join) Finish(context.Context, Collector) error { return nil }

func keyColumns(dst []arrow.Array, b arrow.RecordBatch, cols []int) []arrow.Array {
	dst = dst[:0]
	for _, k := range cols {
		dst = append(dst, b.Column(k))
	}
	return dst
}

func (j *join) ProcessInput(ctx context.Context, input int, b arrow.RecordBatch, out Collector) error {
	if input != 0 && input != 1 {
		return fmt.Errorf("join: unexpected input %d", input)
	}
	nc := int(b.NumCols())
	ts, ok := b.Column(nc - 1).(*array.Timestamp)
	if !ok {
		return fmt.Errorf("join: last column is not a timestamp")
	}
	n := int(b.NumRows())
	if n == 0 {
		return nil
	}
	own, other := j.sides[input], j.sides[1-input]
	j.keys = keyColumns(j.keys, b, own.keyCols)
	tsv := ts.TimestampValues()
	bi := int32(len(own.batches))
	stored := int32(0)
	var bld *array.RecordBuilder
	rows := 0
	for r := 0; r < n; r++ {
		null := false
		for _, k := range j.keys {
			null = null || k.IsNull(r)
		}
		if null {
			continue // NULL keys match nothing
		}
		j.keyBuf = encodeKey(j.keyBuf[:0], j.keys, r)
		h := hashBytes(j.seed, j.keyBuf)
		t := int64(tsv[r])
		if c, ok := other.index.get(h); ok {
			for e := c.head; e >= 0; e = other.entries[e].next {
				oe := &other.entries[e]
				ob := other.batches[oe.batch]
				j.other = keyColumns(j.other, ob, other.keyCols)
				j.cmpBuf = encodeKey(j.cmpBuf[:0], j.other, int(oe.row))
				if !bytes.Equal(j.cmpBuf, j.keyBuf) {
					continue // another key with the same hash
				}
				if bld == nil {
					bld = array.NewRecordBuilder(memory.DefaultAllocator, j.cfg.Out)
					defer bld.Release()
				}
				left, lr, right, rr := b, r, ob, int(oe.row)
				if input == 1 {
					left, lr, right, rr = ob, int(oe.row), b, r
				}
				f := 0
				for c := 0; c < int(left.NumCols())-1; c++ {
					appendFrom(bld.Field(f), left.Column(c), lr)
					f++
				}
				for c := 0; c < int(right.NumCols())-1; c++ {
					appendFrom(bld.Field(f), right.Column(c), rr)
					f++
				}
				bld.Field(f).(*array.TimestampBuilder).Append(arrow.Timestamp(max(t, oe.ts)))
				rows++
			}
		}
		e := int32(len(own.entries))
		own.entries = append(own.entries, joinEntry{batch: bi, row: int32(r), next: -1, ts: t})
		own.index.add(h, e, own.entries)
		own.minTs = min(own.minTs, t)
		stored++
	}
	if stored > 0 {
		b.Retain()
		own.batches = append(own.batches, b)
		own.live = append(own.live, stored)
	}
	if rows == 0 {
		return nil
	}
	rb := bld.NewRecordBatch()
	defer rb.Release()
	return out.Collect(ctx, rb)
}

// ProcessWatermark forgets rows older than the watermark minus the TTL.
func (j *join) ProcessWatermark(_ context.Context, wm int64, _ Collector) error {
	limit := wm - j.cfg.TTL
	for _, side := range j.sides {
		side.expire(limit)
	}
	return nil
}

// expire drops the rows older than limit and rebuilds the index of the
// rest (in arrival order, so matches keep their order).
func (s *joinSide) expire(limit int64) {
	if s.minTs >= limit {
		return
	}
	kept := s.entries[:0]
	remap := make([]int32, len(s.batches))
	for i := range s.live {
		s.live[i] = 0
	}
	minTs := int64(math.MaxInt64)
	for _, e := range s.entries {
		if e.ts >= limit {
			kept = append(kept, e)
			s.live[e.batch]++
			minTs = min(minTs, e.ts)
		}
	}
	// Release the batches without live rows and renumber the others.
	nb := 0
	for i, b := range s.batches {
		if s.live[i] == 0 {
			if b != nil {
				b.Release()
			}
			continue
		}
		remap[i] = int32(nb)
		s.batches[nb], s.live[nb] = b, s.live[i]
		nb++
	}
	clear(s.batches[nb:])
	s.batches, s.live = s.batches[:nb], s.live[:nb]
	if len(kept) == 0 {
		s.entries = nil
		s.index = newChainTable(0)
		s.minTs = math.MaxInt64
		return
	}
	// The hashes are not stored: the surviving rows are hashed again, in
	// arrival order, which keeps each key's rows in that order.
	s.entries = kept
	s.minTs = minTs
	s.reindex(remap)
}

func (s *joinSide) reindex(remap []int32) {
	seed := s.seed
	s.index = newChainTable(len(s.index.chains))
	var buf []byte
	var cols []arrow.Array
	lastBatch := int32(-1)
	for i := range s.entries {
		e := &s.entries[i]
		e.batch = remap[e.batch]
		e.next = -1
		if e.batch != lastBatch {
			cols = keyColumns(cols, s.batches[e.batch], s.keyCols)
			lastBatch = e.batch
		}
		buf = encodeKey(buf[:0], cols, int(e.row))
		s.index.add(hashBytes(seed, buf), int32(i), s.entries)
	}
}

// StateRows is the number of rows held (for tests and metrics).
func (j *join) StateRows() int {
	n := 0
	for _, side := range j.sides {
		n += len(side.entries)
	}
	return n
}

// appendFrom appends row r of a to b (of the same type) without boxing
// the common types.
func appendFrom(b array.Builder, a arrow.Array, r int) {
	if a.IsNull(r) {
		b.AppendNull()
		return
	}
	switch x := a.(type) {
	case *array.Int64:
		b.(*array.Int64Builder).Append(x.Value(r))
	case *array.Timestamp:
		b.(*array.TimestampBuilder).Append(x.Value(r))
	case *array.Float64:
		b.(*array.Float64Builder).Append(x.Value(r))
	case *array.String:
		b.(*array.StringBuilder).Append(x.Value(r))
	case *array.Int32:
		b.(*array.Int32Builder).Append(x.Value(r))
	case *array.Boolean:
		b.(*array.BooleanBuilder).Append(x.Value(r))
	case *array.Struct:
		sb := b.(*array.StructBuilder)
		sb.Append(true)
		for i := 0; i < x.NumField(); i++ {
			appendFrom(sb.FieldBuilder(i), x.Field(i), r)
		}
	default:
		appendAny(b, valueAt(a, r))
	}
}
