package expr

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// batch has columns i (int64), f (float64), s (text), b (bool) and
// ts (timestamp), with a null in every column of row 2.
func batch(t *testing.T, alloc memory.Allocator) arrow.RecordBatch {
	t.Helper()
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "i", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
		{Name: "f", Type: arrow.PrimitiveTypes.Float64, Nullable: true},
		{Name: "s", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "b", Type: arrow.FixedWidthTypes.Boolean, Nullable: true},
		{Name: "ts", Type: Timestamp, Nullable: true},
	}, nil)
	bld := array.NewRecordBuilder(alloc, schema)
	defer bld.Release()
	valid := []bool{true, true, false, true}
	bld.Field(0).(*array.Int64Builder).AppendValues([]int64{7, -7, 0, 9}, valid)
	bld.Field(1).(*array.Float64Builder).AppendValues([]float64{2.5, -2.5, 0, 7.25}, valid)
	bld.Field(2).(*array.StringBuilder).AppendValues([]string{"Abc", "éÉ", "", "x"}, valid)
	bld.Field(3).(*array.BooleanBuilder).AppendValues([]bool{true, false, false, true}, valid)
	bld.Field(4).(*array.TimestampBuilder).AppendValues([]arrow.Timestamp{0, 1_000_000, 0, 1_700_000_000_000_000}, valid)
	return bld.NewRecordBatch()
}

func col(name string) Expr {
	types := map[string]arrow.DataType{
		"i": arrow.PrimitiveTypes.Int64, "f": arrow.PrimitiveTypes.Float64,
		"s": arrow.BinaryTypes.String, "b": arrow.FixedWidthTypes.Boolean, "ts": Timestamp,
	}
	idx := map[string]int{"i": 0, "f": 1, "s": 2, "b": 3, "ts": 4}
	return &Column{Index: idx[name], Name: name, T: types[name]}
}

func lit(v any) Expr {
	switch x := v.(type) {
	case int:
		return NewLiteral(int64(x), arrow.PrimitiveTypes.Int64)
	case nil:
		return NewLiteral(nil, arrow.PrimitiveTypes.Int64)
	}
	return NewLiteral(v, nil)
}

func call(fn string, t arrow.DataType, args ...Expr) Expr {
	return &Call{Func: fn, Op: fn, Args: args, T: t}
}

func TestEval(t *testing.T) {
	i64, f64, txt, boolean := arrow.PrimitiveTypes.Int64, arrow.PrimitiveTypes.Float64, arrow.BinaryTypes.String, arrow.FixedWidthTypes.Boolean
	tests := []struct {
		name string
		e    Expr
		want string // ValueStr of the 4 rows
	}{
		{"column", col("i"), "7 -7 (null) 9"},
		{"literal broadcast", lit("k"), "k k k k"},
		{"add", call("add_unchecked", i64, col("i"), lit(1)), "8 -6 (null) 10"},
		{"divide ints truncates", call("divide", i64, col("i"), lit(2)), "3 -3 (null) 4"},
		{"mod sign of dividend", &Mod{Left: col("i"), Right: lit(3)}, "1 -1 (null) 0"},
		{"mod by -1", &Mod{Left: col("i"), Right: lit(-1)}, "0 0 (null) 0"},
		{"mod floats", &Mod{Left: col("f"), Right: NewLiteral(2.0, nil)}, "0.5 -0.5 (null) 1.25"},
		{"compare", call("greater", boolean, col("i"), lit(0)), "true false (null) true"},
		{"kleene and", call("and_kleene", boolean, col("b"), NewLiteral(false, nil)), "false false false false"},
		{"kleene or", call("or_kleene", boolean, col("b"), NewLiteral(true, nil)), "true true true true"},
		{"is null", call("is_null", boolean, col("s")), "false false true false"},
		{"cast int to text", &Cast{Arg: col("i"), To: txt}, "7 -7 (null) 9"},
		{"cast float to int truncates", &Cast{Arg: col("f"), To: i64}, "2 -2 (null) 7"},
		{"cast text to timestamp", &Cast{Arg: NewLiteral("2024-01-02T03:04:05Z", nil), To: Timestamp}, strings.Repeat("2024-01-02T03:04:05 ", 3) + "2024-01-02T03:04:05"},
		{"cast null", &Cast{Arg: NewLiteral(nil, arrow.Null), To: f64}, "(null) (null) (null) (null)"},
		{"case", &Case{
			Whens: []When{
				{Cond: call("less", boolean, col("i"), lit(0)), Then: lit("neg")},
				{Cond: call("greater", boolean, col("i"), lit(8)), Then: lit("big")},
			},
			Else: lit("other"), T: txt,
		}, "other neg other big"},
		{"case without else", &Case{Whens: []When{{Cond: col("b"), Then: col("f")}}, T: f64}, "2.5 (null) (null) 7.25"},
		{"coalesce", &Coalesce{Args: []Expr{col("i"), lit(42)}, T: i64}, "7 -7 42 9"},
		{"lower", &StringFunc{Name: "lower", Args: []Expr{col("s")}}, "abc éé (null) x"},
		{"upper", &StringFunc{Name: "upper", Args: []Expr{col("s")}}, "ABC ÉÉ (null) X"},
		{"length counts characters", &StringFunc{Name: "length", Args: []Expr{col("s")}}, "3 2 (null) 1"},
		{"concat skips nulls", &StringFunc{Name: "concat", Args: []Expr{lit("<"), col("s"), lit(">")}}, "<Abc> <éÉ> <> <x>"},
		{"|| is strict", &StringFunc{Name: "||", Args: []Expr{lit("<"), col("s")}}, "<Abc <éÉ (null) <x"},
		{"round half away from zero", &Round{Arg: col("f")}, "3 -3 (null) 7"},
		{"round digits", &Round{Arg: col("f"), Digits: 1}, "2.5 -2.5 (null) 7.3"},
		{"round int", &Round{Arg: col("i")}, "7 -7 (null) 9"},
		{"abs", call("abs_unchecked", i64, col("i")), "7 7 (null) 9"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			alloc := memory.NewCheckedAllocator(memory.DefaultAllocator)
			b := batch(t, alloc)
			defer b.Release()
			d, err := tc.e.Eval(context.Background(), b)
			if err != nil {
				t.Fatalf("Eval(%s): %v", tc.e, err)
			}
			arr, err := ToArray(d, int(b.NumRows()))
			d.Release()
			if err != nil {
				t.Fatal(err)
			}
			defer arr.Release()
			if !arrow.TypeEqual(arr.DataType(), tc.e.Type()) {
				t.Errorf("result type %s, declared %s", arr.DataType(), tc.e.Type())
			}
			got := make([]string, arr.Len())
			for i := range got {
				got[i] = arr.ValueStr(i)
			}
			if s := strings.Join(got, " "); s != tc.want {
				t.Errorf("%s = %q, want %q", tc.e, s, tc.want)
			}
		})
	}
}

func TestEvalErrors(t *testing.T) {
	b := batch(t, memory.DefaultAllocator)
	defer b.Release()
	_, err := (&Mod{Left: col("i"), Right: lit(0)}).Eval(context.Background(), b)
	if !errors.Is(err, ErrDivisionByZero) {
		t.Errorf("x %% 0: %v", err)
	}
	_, err = call("divide", arrow.PrimitiveTypes.Int64, col("i"), lit(0)).Eval(context.Background(), b)
	if err == nil {
		t.Error("x / 0 on integers succeeded")
	}
	_, err = (&Cast{Arg: lit("nope"), To: Timestamp}).Eval(context.Background(), b)
	if err == nil || !strings.Contains(err.Error(), "nope") {
		t.Errorf("bad timestamp: %v", err)
	}
	_, err = (&Column{Index: 9, Name: "zz"}).Eval(context.Background(), b)
	if err == nil {
		t.Error("out-of-range column succeeded")
	}
}

func TestString(t *testing.T) {
	e := &Case{Whens: []When{{Cond: &Call{Func: "equal", Op: "=", Infix: true, Args: []Expr{&Mod{Left: col("i"), Right: lit(3)}, lit(0)}}, Then: lit("it's")}}, T: arrow.BinaryTypes.String}
	if got, want := e.String(), "CASE WHEN ((i % 3) = 0) THEN 'it''s' END"; got != want {
		t.Errorf("String = %q, want %q", got, want)
	}
	if got := fmt.Sprint(&Cast{Arg: col("f"), To: arrow.PrimitiveTypes.Int64}); got != "CAST(f AS BIGINT)" {
		t.Errorf("cast String = %q", got)
	}
}
