package expr

import (
	"context"
	"fmt"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/bitutil"
	"github.com/apache/arrow-go/v18/arrow/compute"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// Field reads one field of a struct value (SQL `s.f`). A NULL struct gives
// NULL, whatever its child array holds in that row.
type Field struct {
	Struct Expr
	Index  int
	Name   string
	T      arrow.DataType
}

// Type implements Expr.
func (f *Field) Type() arrow.DataType { return f.T }

func (f *Field) String() string { return f.Struct.String() + "." + f.Name }

// Eval implements Expr.
func (f *Field) Eval(ctx context.Context, b arrow.RecordBatch) (compute.Datum, error) {
	d, err := f.Struct.Eval(ctx, b)
	if err != nil {
		return nil, err
	}
	defer d.Release()
	n := int(b.NumRows())
	arr, err := ToArray(d, n)
	if err != nil {
		return nil, err
	}
	defer arr.Release()
	sa, ok := arr.(*array.Struct)
	if !ok || f.Index < 0 || f.Index >= sa.NumField() {
		return nil, fmt.Errorf("%s: not a field of %s", f, arr.DataType())
	}
	child := sa.Field(f.Index)
	if sa.NullN() == 0 {
		return compute.NewDatum(child), nil
	}
	// Mask the child's validity with the struct's, keeping the child's
	// offset so its other buffers stay valid.
	cd := child.Data()
	off := cd.Offset()
	bm := make([]byte, bitutil.BytesForBits(int64(off+n)))
	nulls := 0
	sOff := sa.Data().Offset()
	sBits := sa.NullBitmapBytes()
	if off == 0 && sOff == 0 {
		// The common case, unsliced arrays: AND the bitmaps bytewise.
		copy(bm, sBits)
		if child.NullN() > 0 {
			for i, c := range child.NullBitmapBytes()[:len(bm)] {
				bm[i] &= c
			}
		}
		nulls = n - bitutil.CountSetBits(bm, 0, n)
	} else {
		for i := 0; i < n; i++ {
			if bitutil.BitIsSet(sBits, sOff+i) && child.IsValid(i) {
				bitutil.SetBit(bm, off+i)
			} else {
				nulls++
			}
		}
	}
	bufs := append([]*memory.Buffer{memory.NewBufferBytes(bm)}, cd.Buffers()[1:]...)
	data := array.NewData(cd.DataType(), n, bufs, cd.Children(), nulls, off)
	defer data.Release()
	out := array.MakeFromData(data)
	defer out.Release()
	return compute.NewDatum(out), nil
}
