package engine

import (
	"context"
	"fmt"
	"math"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/compute"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// Hash partitioning of batches by key. The hash is fixed (not seeded per
// process) so that every worker of a job sends a key to the same subtask.

const (
	hashSeed  = 0x9e3779b97f4a7c15
	hashNull  = 0x51af
	hashPrime = 0xff51afd7ed558ccd
)

func mix64(h, v uint64) uint64 {
	h ^= v + hashSeed + (h << 6) + (h >> 2)
	h *= hashPrime
	h ^= h >> 33
	return h
}

// HashColumns fills hashes (len = rows) with a hash of each row's values
// in the given columns, a column at a time.
func HashColumns(b arrow.RecordBatch, cols []int, hashes []uint64) error {
	for i := range hashes {
		hashes[i] = hashSeed
	}
	for _, c := range cols {
		if err := hashArray(b.Column(c), hashes); err != nil {
			return fmt.Errorf("hash column %s: %w", b.Schema().Field(c).Name, err)
		}
	}
	return nil
}

func hashArray(a arrow.Array, hashes []uint64) error {
	nulls := a.NullN() > 0
	switch x := a.(type) {
	case *array.Int64:
		vs := x.Int64Values()
		for i, v := range vs {
			if nulls && x.IsNull(i) {
				hashes[i] = mix64(hashes[i], hashNull)
				continue
			}
			hashes[i] = mix64(hashes[i], uint64(v))
		}
	case *array.Int32:
		for i, v := range x.Int32Values() {
			if nulls && x.IsNull(i) {
				hashes[i] = mix64(hashes[i], hashNull)
				continue
			}
			hashes[i] = mix64(hashes[i], uint64(int64(v)))
		}
	case *array.Timestamp:
		for i, v := range x.TimestampValues() {
			if nulls && x.IsNull(i) {
				hashes[i] = mix64(hashes[i], hashNull)
				continue
			}
			hashes[i] = mix64(hashes[i], uint64(v))
		}
	case *array.Float64:
		for i, v := range x.Float64Values() {
			if nulls && x.IsNull(i) {
				hashes[i] = mix64(hashes[i], hashNull)
				continue
			}
			if v == 0 {
				v = 0 // -0 and +0 are one key
			}
			hashes[i] = mix64(hashes[i], math.Float64bits(v))
		}
	case *array.Boolean:
		for i := 0; i < x.Len(); i++ {
			switch {
			case nulls && x.IsNull(i):
				hashes[i] = mix64(hashes[i], hashNull)
			case x.Value(i):
				hashes[i] = mix64(hashes[i], 1)
			default:
				hashes[i] = mix64(hashes[i], 2)
			}
		}
	case *array.String:
		for i := 0; i < x.Len(); i++ {
			if nulls && x.IsNull(i) {
				hashes[i] = mix64(hashes[i], hashNull)
				continue
			}
			s := x.Value(i)
			h := uint64(14695981039346656037)
			for j := 0; j < len(s); j++ {
				h ^= uint64(s[j])
				h *= 1099511628211
			}
			hashes[i] = mix64(hashes[i], h^uint64(len(s)))
		}
	case *array.Struct:
		for f := 0; f < x.NumField(); f++ {
			if err := hashArray(x.Field(f), hashes); err != nil {
				return err
			}
		}
		if nulls {
			for i := range hashes {
				if x.IsNull(i) {
					hashes[i] = mix64(hashes[i], hashNull)
				}
			}
		}
	case *array.Null:
		for i := range hashes {
			hashes[i] = mix64(hashes[i], hashNull)
		}
	default:
		return fmt.Errorf("cannot hash %s", a.DataType())
	}
	return nil
}

// partitioner splits batches by key hash into one batch per destination.
type partitioner struct {
	key    []int
	n      int
	hashes []uint64
	idx    [][]int32
}

func newPartitioner(key []int, n int) *partitioner {
	return &partitioner{key: key, n: n, idx: make([][]int32, n)}
}

// split returns one batch per destination (nil where no rows go); the
// caller releases them.
func (p *partitioner) split(ctx context.Context, b arrow.RecordBatch) ([]arrow.RecordBatch, error) {
	rows := int(b.NumRows())
	if cap(p.hashes) < rows {
		p.hashes = make([]uint64, rows)
	}
	h := p.hashes[:rows]
	if err := HashColumns(b, p.key, h); err != nil {
		return nil, err
	}
	for d := range p.idx {
		p.idx[d] = p.idx[d][:0]
	}
	for i, v := range h {
		d := KeyOwner(v, p.n)
		p.idx[d] = append(p.idx[d], int32(i))
	}
	out := make([]arrow.RecordBatch, p.n)
	for d, ix := range p.idx {
		switch len(ix) {
		case 0:
			continue
		case rows:
			b.Retain()
			out[d] = b
			continue
		}
		rb, err := takeRows(ctx, b, ix)
		if err != nil {
			for _, o := range out {
				if o != nil {
					o.Release()
				}
			}
			return nil, err
		}
		out[d] = rb
	}
	return out, nil
}

// takeRows builds a batch of the given rows of b.
func takeRows(ctx context.Context, b arrow.RecordBatch, ix []int32) (arrow.RecordBatch, error) {
	var indices arrow.Array
	defer func() {
		if indices != nil {
			indices.Release()
		}
	}()
	cols := make([]arrow.Array, b.NumCols())
	for c, col := range b.Columns() {
		if a := takeFast(col, ix); a != nil {
			cols[c] = a
			continue
		}
		if indices == nil {
			ib := array.NewInt32Builder(memory.DefaultAllocator)
			ib.AppendValues(ix, nil)
			indices = ib.NewInt32Array()
			ib.Release()
		}
		a, err := compute.TakeArray(ctx, col, indices)
		if err != nil {
			for _, x := range cols[:c] {
				x.Release()
			}
			return nil, fmt.Errorf("partition: %w", err)
		}
		cols[c] = a
	}
	rb := array.NewRecordBatch(b.Schema(), cols, int64(len(ix)))
	for _, c := range cols {
		c.Release()
	}
	return rb, nil
}
