package engine

import (
	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/bitutil"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// Hand-written filter kernels for the common column types: arrow's
// generic kernels pay per-call dispatch and, for strings, grow their
// output buffers step by step.

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

// takeFast returns the rows idx of a for the types it knows, or nil.
func takeFast(a arrow.Array, idx []int32) arrow.Array {
	mem := memory.DefaultAllocator
	nulls := a.NullN() > 0
	switch x := a.(type) {
	case *array.Int64:
		b := array.NewInt64Builder(mem)
		defer b.Release()
		b.Reserve(len(idx))
		vs := x.Int64Values()
		for _, i := range idx {
			if nulls && x.IsNull(int(i)) {
				b.UnsafeAppendBoolToBitmap(false)
				continue
			}
			b.UnsafeAppend(vs[i])
		}
		return b.NewArray()
	case *array.Float64:
		b := array.NewFloat64Builder(mem)
		defer b.Release()
		b.Reserve(len(idx))
		vs := x.Float64Values()
		for _, i := range idx {
			if nulls && x.IsNull(int(i)) {
				b.UnsafeAppendBoolToBitmap(false)
				continue
			}
			b.UnsafeAppend(vs[i])
		}
		return b.NewArray()
	case *array.Timestamp:
		b := array.NewTimestampBuilder(mem, x.DataType().(*arrow.TimestampType))
		defer b.Release()
		b.Reserve(len(idx))
		vs := x.TimestampValues()
		for _, i := range idx {
			if nulls && x.IsNull(int(i)) {
				b.UnsafeAppendBoolToBitmap(false)
				continue
			}
			b.UnsafeAppend(vs[i])
		}
		return b.NewArray()
	case *array.String:
		size := 0
		for _, i := range idx {
			size += x.ValueLen(int(i))
		}
		b := array.NewStringBuilder(mem)
		defer b.Release()
		b.Reserve(len(idx))
		b.ReserveData(size)
		for _, i := range idx {
			if nulls && x.IsNull(int(i)) {
				b.AppendNull()
				continue
			}
			b.Append(x.Value(int(i)))
		}
		return b.NewArray()
	}
	return nil
}
