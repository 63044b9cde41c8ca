package engine

import (
	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/bitutil"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// Hand-written filter kernels for the common column types: arrow's
// generic kernels pay per-call dispatch and, for strings, grow their
// output buffers step by step. These write the output buffers directly
// (Go memory, owned by the new array), and copy runs of consecutive
// selected rows with one copy each: filters such as Nexmark's
// `bid IS NOT NULL` select long runs.

// selected lists the indices of the true, non-null values of mask.
func selected(mask *array.Boolean, buf []int32) []int32 {
	buf = buf[:0]
	n := mask.Len()
	bits := mask.Data().Buffers()[1].Bytes()
	off := mask.Data().Offset()
	nulls := mask.NullN() > 0
	for i := 0; i < n; i++ {
		if bitutil.BitIsSet(bits, off+i) && (!nulls || mask.IsValid(i)) {
			buf = append(buf, int32(i))
		}
	}
	return buf
}

// runEnd returns the end (exclusive, as an index into idx) of the run of
// consecutive row numbers starting at idx[k].
func runEnd(idx []int32, k int) int {
	e := k + 1
	for e < len(idx) && idx[e] == idx[e-1]+1 {
		e++
	}
	return e
}

// takeValidity returns the validity bitmap of the rows idx of a, or nil
// if they are all valid, and the number of nulls.
func takeValidity(a arrow.Array, idx []int32) (*memory.Buffer, int) {
	if a.NullN() == 0 {
		return nil, 0
	}
	in := a.Data().Buffers()[0].Bytes()
	off := a.Data().Offset()
	bits := make([]byte, bitutil.BytesForBits(int64(len(idx))))
	nulls := 0
	for k, i := range idx {
		if in[(off+int(i))>>3]&(1<<((off+int(i))&7)) != 0 {
			bits[k>>3] |= 1 << (k & 7)
		} else {
			nulls++
		}
	}
	if nulls == 0 {
		return nil, 0
	}
	return memory.NewBufferBytes(bits), nulls
}

// take8 gathers 8-byte values.
func take8[T int64 | float64 | arrow.Timestamp](vs []T, idx []int32) []T {
	out := make([]T, len(idx))
	for k := 0; k < len(idx); {
		e := runEnd(idx, k)
		copy(out[k:e], vs[idx[k]:int(idx[k])+e-k])
		k = e
	}
	return out
}

func fixedArray[T int64 | float64 | arrow.Timestamp](t arrow.DataType, vals []T, valid *memory.Buffer, nulls int) arrow.Array {
	d := array.NewData(t, len(vals), []*memory.Buffer{valid, memory.NewBufferBytes(arrow.GetBytes(vals))}, nil, nulls, 0)
	defer d.Release()
	return array.MakeFromData(d)
}

// takeFast returns the rows idx of a for the types it knows, or nil.
func takeFast(a arrow.Array, idx []int32) arrow.Array {
	switch x := a.(type) {
	case *array.Int64:
		valid, nulls := takeValidity(a, idx)
		return fixedArray(x.DataType(), take8(x.Int64Values(), idx), valid, nulls)
	case *array.Float64:
		valid, nulls := takeValidity(a, idx)
		return fixedArray(x.DataType(), take8(x.Float64Values(), idx), valid, nulls)
	case *array.Timestamp:
		valid, nulls := takeValidity(a, idx)
		return fixedArray(x.DataType(), take8(x.TimestampValues(), idx), valid, nulls)
	case *array.String:
		valid, nulls := takeValidity(a, idx)
		offs := x.ValueOffsets()
		var data []byte // indexed by the absolute offsets
		if buf := x.Data().Buffers()[2]; buf != nil {
			data = buf.Bytes()
		}
		size := 0
		for k := 0; k < len(idx); {
			e := runEnd(idx, k)
			size += int(offs[int(idx[k])+e-k] - offs[idx[k]])
			k = e
		}
		outOffs := make([]int32, len(idx)+1)
		outData := make([]byte, size)
		pos := int32(0)
		for k := 0; k < len(idx); {
			e := runEnd(idx, k)
			lo, hi := int(idx[k]), int(idx[k])+e-k
			base := offs[lo]
			copy(outData[pos:], data[base:offs[hi]])
			for j := lo; j < hi; j++ {
				outOffs[k+j-lo] = pos + offs[j] - base
			}
			pos += offs[hi] - base
			k = e
		}
		outOffs[len(idx)] = pos
		d := array.NewData(arrow.BinaryTypes.String, len(idx), []*memory.Buffer{
			valid,
			memory.NewBufferBytes(arrow.Int32Traits.CastToBytes(outOffs)),
			memory.NewBufferBytes(outData),
		}, nil, nulls, 0)
		defer d.Release()
		return array.MakeFromData(d)
	}
	return nil
}
