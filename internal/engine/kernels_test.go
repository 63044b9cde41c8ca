package engine

import (
	"fmt"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// TestTakeFast checks the filter kernels against per-row reads, with
// nulls, sliced inputs and runs of consecutive rows.
func TestTakeFast(t *testing.T) {
	mem := memory.DefaultAllocator
	ib := array.NewInt64Builder(mem)
	fb := array.NewFloat64Builder(mem)
	tb := array.NewTimestampBuilder(mem, &arrow.TimestampType{Unit: arrow.Microsecond})
	sb := array.NewStringBuilder(mem)
	for i := 0; i < 300; i++ {
		if i%7 == 3 {
			ib.AppendNull()
			fb.AppendNull()
			tb.AppendNull()
			sb.AppendNull()
			continue
		}
		ib.Append(int64(i))
		fb.Append(float64(i) / 2)
		tb.Append(arrow.Timestamp(i * 1000))
		sb.Append(fmt.Sprintf("s%d", i*i%97))
	}
	cols := []arrow.Array{ib.NewArray(), fb.NewArray(), tb.NewArray(), sb.NewArray()}
	idxs := [][]int32{{}, {0}, {0, 1, 2, 3, 4}, {5, 9, 10, 11, 40, 41, 99}, {3, 10, 17}}
	for _, c := range cols {
		for _, sliced := range []bool{false, true} {
			in := c
			if sliced {
				in = array.NewSlice(c, 13, 250)
			}
			for _, idx := range idxs {
				got := takeFast(in, idx)
				if got.Len() != len(idx) {
					t.Fatalf("%s: len %d, want %d", in.DataType(), got.Len(), len(idx))
				}
				for k, i := range idx {
					if got.IsNull(k) != in.IsNull(int(i)) || (!in.IsNull(int(i)) && got.ValueStr(k) != in.ValueStr(int(i))) {
						t.Fatalf("%s sliced=%v idx=%v: row %d is %q, want %q", in.DataType(), sliced, idx, k, got.ValueStr(k), in.ValueStr(int(i)))
					}
				}
				got.Release()
			}
		}
	}
}
