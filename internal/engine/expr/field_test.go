package expr

import (
	"context"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

func TestFieldOfNullStructIsNull(t *testing.T) {
	st := arrow.StructOf(
		arrow.Field{Name: "a", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
		arrow.Field{Name: "s", Type: arrow.BinaryTypes.String, Nullable: true},
	)
	schema := arrow.NewSchema([]arrow.Field{{Name: "x", Type: st, Nullable: true}}, nil)
	rb := array.NewRecordBuilder(memory.DefaultAllocator, schema)
	defer rb.Release()
	sb := rb.Field(0).(*array.StructBuilder)
	for i, valid := range []bool{true, false, true, true} {
		sb.Append(valid)
		if !valid {
			continue // the builder appended nulls to the children
		}
		sb.FieldBuilder(0).(*array.Int64Builder).Append(int64(i))
		if i == 3 {
			sb.FieldBuilder(1).(*array.StringBuilder).AppendNull()
		} else {
			sb.FieldBuilder(1).(*array.StringBuilder).Append(strings.Repeat("z", i))
		}
	}
	full := rb.NewRecordBatch()
	defer full.Release()
	// A slice checks that offsets into the children are honoured.
	for _, b := range []arrow.RecordBatch{full, full.NewSlice(1, 4)} {
		x := &Column{Index: 0, Name: "x", T: st}
		for f, want := range map[int]string{0: "0 (null) 2 3", 1: " (null) zz (null)"} {
			if b != full {
				want = strings.Join(strings.Split(want, " ")[1:], " ")
			}
			e := &Field{Struct: x, Index: f, Name: st.Field(f).Name, T: st.Field(f).Type}
			d, err := e.Eval(context.Background(), b)
			if err != nil {
				t.Fatal(err)
			}
			arr, _ := ToArray(d, int(b.NumRows()))
			d.Release()
			got := make([]string, arr.Len())
			for i := range got {
				got[i] = arr.ValueStr(i)
			}
			arr.Release()
			if s := strings.Join(got, " "); s != want {
				t.Errorf("%s over %d rows = %q, want %q", e, b.NumRows(), s, want)
			}
		}
		if b != full {
			b.Release()
		}
	}
}

// The struct's null mask wins over valid values in its children.
func TestFieldMasksChildValues(t *testing.T) {
	ib := array.NewInt64Builder(memory.DefaultAllocator)
	defer ib.Release()
	ib.AppendValues([]int64{10, 11, 12}, nil)
	child := ib.NewArray()
	defer child.Release()
	bm := memory.NewBufferBytes([]byte{0b101})
	sa, err := array.NewStructArrayWithNulls([]arrow.Array{child}, []string{"a"}, bm, 1, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer sa.Release()
	schema := arrow.NewSchema([]arrow.Field{{Name: "x", Type: sa.DataType(), Nullable: true}}, nil)
	b := array.NewRecordBatch(schema, []arrow.Array{sa}, 3)
	defer b.Release()
	e := &Field{Struct: &Column{Index: 0, Name: "x", T: sa.DataType()}, Index: 0, Name: "a", T: arrow.PrimitiveTypes.Int64}
	d, err := e.Eval(context.Background(), b)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Release()
	arr, _ := ToArray(d, 3)
	defer arr.Release()
	if got := arr.ValueStr(0) + " " + arr.ValueStr(1) + " " + arr.ValueStr(2); got != "10 (null) 12" {
		t.Errorf("got %q", got)
	}
}
