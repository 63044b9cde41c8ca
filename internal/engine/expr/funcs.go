package expr

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"unicode/utf8"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/bitutil"
	"github.com/apache/arrow-go/v18/arrow/compute"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/arrow/scalar"
)

// ErrDivisionByZero is returned by integer division or modulo by zero.
var ErrDivisionByZero = errors.New("division by zero")

// Mod is the remainder of integer or floating-point division, with the
// sign of the dividend (SQL's %). Arrow's compute package has no modulo.
type Mod struct {
	Left, Right Expr
}

// Type implements Expr.
func (m *Mod) Type() arrow.DataType { return m.Left.Type() }

func (m *Mod) String() string { return "(" + m.Left.String() + " % " + m.Right.String() + ")" }

// Eval implements Expr. The usual `x % constant` reads the constant once
// and writes results straight into the output buffers.
func (m *Mod) Eval(ctx context.Context, b arrow.RecordBatch) (compute.Datum, error) {
	ds, err := evalAll(ctx, b, []Expr{m.Left, m.Right})
	if err != nil {
		return nil, err
	}
	defer releaseAll(ds)
	n := int(b.NumRows())
	l, err := ToArray(ds[0], n)
	if err != nil {
		return nil, err
	}
	defer l.Release()
	var out arrow.Array
	switch la := l.(type) {
	case *array.Int64:
		out, err = modulo(la, ds[1], n, la.Int64Values(), func(a arrow.Array) []int64 { return a.(*array.Int64).Int64Values() }, intRem[int64])
	case *array.Int32:
		out, err = modulo(la, ds[1], n, la.Int32Values(), func(a arrow.Array) []int32 { return a.(*array.Int32).Int32Values() }, intRem[int32])
	case *array.Float64:
		out, err = modulo(la, ds[1], n, la.Float64Values(), func(a arrow.Array) []float64 { return a.(*array.Float64).Float64Values() },
			func(x, y float64) (float64, error) { return math.Mod(x, y), nil })
	default:
		return nil, fmt.Errorf("%s: modulo of %s is not supported", m, l.DataType())
	}
	if err != nil {
		return nil, err
	}
	defer out.Release()
	return compute.NewDatum(out), nil
}

func intRem[T int32 | int64](x, y T) (T, error) {
	switch y {
	case 0:
		return 0, ErrDivisionByZero
	case -1:
		return 0, nil // and MinInt % -1 would trap
	}
	return x % y, nil
}

// modulo computes rem(l[i], r[i]) for every row valid on both sides.
func modulo[T int32 | int64 | float64](l arrow.Array, r compute.Datum, n int, lv []T, valuesOf func(arrow.Array) []T, rem func(T, T) (T, error)) (arrow.Array, error) {
	out := make([]T, n)
	validity := make([]byte, bitutil.BytesForBits(int64(n)))
	nulls := 0
	var rArr arrow.Array
	var rv []T
	switch rd := r.(type) {
	case *compute.ScalarDatum:
		if !rd.Value.IsValid() {
			return scalar.MakeArrayFromScalar(scalar.MakeNullScalar(l.DataType()), n, mem)
		}
		one, err := scalar.MakeArrayFromScalar(rd.Value, 1, mem)
		if err != nil {
			return nil, err
		}
		defer one.Release()
		d := valuesOf(one)[0]
		for i := 0; i < n; i++ {
			if l.IsNull(i) {
				nulls++
				continue
			}
			v, err := rem(lv[i], d)
			if err != nil {
				return nil, err
			}
			out[i] = v
			bitutil.SetBit(validity, i)
		}
	default:
		var err error
		if rArr, err = ToArray(r, n); err != nil {
			return nil, err
		}
		defer rArr.Release()
		rv = valuesOf(rArr)
		for i := 0; i < n; i++ {
			if l.IsNull(i) || rArr.IsNull(i) {
				nulls++
				continue
			}
			v, err := rem(lv[i], rv[i])
			if err != nil {
				return nil, err
			}
			out[i] = v
			bitutil.SetBit(validity, i)
		}
	}
	data := array.NewData(l.DataType(), n, []*memory.Buffer{memory.NewBufferBytes(validity), memory.NewBufferBytes(arrow.GetBytes(out))}, nil, nulls, 0)
	defer data.Release()
	return array.MakeFromData(data), nil
}

// When is one branch of a CASE.
type When struct {
	Cond, Then Expr
}

// Case is a searched CASE expression; a CASE with an operand is planned as
// equality conditions. Else may be nil (NULL).
type Case struct {
	Whens []When
	Else  Expr
	T     arrow.DataType
}

// Type implements Expr.
func (c *Case) Type() arrow.DataType { return c.T }

func (c *Case) String() string {
	var sb strings.Builder
	sb.WriteString("CASE")
	for _, w := range c.Whens {
		sb.WriteString(" WHEN " + w.Cond.String() + " THEN " + w.Then.String())
	}
	if c.Else != nil {
		sb.WriteString(" ELSE " + c.Else.String())
	}
	sb.WriteString(" END")
	return sb.String()
}

// Eval implements Expr. Branch values are computed for the whole batch
// and picked row by row: CASE is not in arrow-go's compute package.
func (c *Case) Eval(ctx context.Context, b arrow.RecordBatch) (compute.Datum, error) {
	n := int(b.NumRows())
	es := make([]Expr, 0, 2*len(c.Whens)+1)
	for _, w := range c.Whens {
		es = append(es, w.Cond, w.Then)
	}
	if c.Else != nil {
		es = append(es, c.Else)
	}
	ds, err := evalAll(ctx, b, es)
	if err != nil {
		return nil, err
	}
	defer releaseAll(ds)
	vs := make([]values, len(ds))
	defer releaseValues(vs)
	for i, d := range ds {
		if vs[i], err = valuesOf(d); err != nil {
			return nil, err
		}
	}
	bld := array.NewBuilder(mem, c.T)
	defer bld.Release()
	bld.Reserve(n)
	for i := 0; i < n; i++ {
		picked := -1
		for w := range c.Whens {
			if vs[2*w].truth(i) {
				picked = 2*w + 1
				break
			}
		}
		if picked < 0 && c.Else != nil {
			picked = len(vs) - 1
		}
		if picked < 0 {
			bld.AppendNull()
		} else if err := vs[picked].appendTo(bld, i); err != nil {
			return nil, err
		}
	}
	out := bld.NewArray()
	defer out.Release()
	return compute.NewDatum(out), nil
}

// Coalesce is the first non-null argument.
type Coalesce struct {
	Args []Expr
	T    arrow.DataType
}

// Type implements Expr.
func (c *Coalesce) Type() arrow.DataType { return c.T }

func (c *Coalesce) String() string { return "coalesce(" + joinExprs(c.Args) + ")" }

// Eval implements Expr.
func (c *Coalesce) Eval(ctx context.Context, b arrow.RecordBatch) (compute.Datum, error) {
	n := int(b.NumRows())
	ds, err := evalAll(ctx, b, c.Args)
	if err != nil {
		return nil, err
	}
	defer releaseAll(ds)
	vs := make([]values, len(ds))
	defer releaseValues(vs)
	for i, d := range ds {
		if vs[i], err = valuesOf(d); err != nil {
			return nil, err
		}
	}
	bld := array.NewBuilder(mem, c.T)
	defer bld.Release()
	bld.Reserve(n)
	for i := 0; i < n; i++ {
		found := false
		for _, v := range vs {
			if v.valid(i) {
				if err := v.appendTo(bld, i); err != nil {
					return nil, err
				}
				found = true
				break
			}
		}
		if !found {
			bld.AppendNull()
		}
	}
	out := bld.NewArray()
	defer out.Release()
	return compute.NewDatum(out), nil
}

// appendValue copies row i of a into bld, whose type must match.
func appendValue(bld array.Builder, a arrow.Array, i int) error {
	if a.IsNull(i) {
		bld.AppendNull()
		return nil
	}
	switch a := a.(type) {
	case *array.Int32:
		bld.(*array.Int32Builder).Append(a.Value(i))
	case *array.Int64:
		bld.(*array.Int64Builder).Append(a.Value(i))
	case *array.Float64:
		bld.(*array.Float64Builder).Append(a.Value(i))
	case *array.Boolean:
		bld.(*array.BooleanBuilder).Append(a.Value(i))
	case *array.String:
		bld.(*array.StringBuilder).Append(a.Value(i))
	case *array.Timestamp:
		bld.(*array.TimestampBuilder).Append(a.Value(i))
	default:
		return fmt.Errorf("values of type %s are not supported here", a.DataType())
	}
	return nil
}

// values reads the rows of an evaluated expression, array or scalar,
// without materialising scalars.
type values interface {
	valid(i int) bool
	// truth is whether row i is a non-null true.
	truth(i int) bool
	appendTo(bld array.Builder, i int) error
	release()
}

func releaseValues(vs []values) {
	for _, v := range vs {
		if v != nil {
			v.release()
		}
	}
}

func valuesOf(d compute.Datum) (values, error) {
	switch v := d.(type) {
	case *compute.ArrayDatum:
		return arrayValues{v.MakeArray()}, nil
	case *compute.ScalarDatum:
		sv := scalarValues{s: v.Value}
		if str, ok := v.Value.(*scalar.String); ok && str.Valid {
			sv.str = string(str.Data()) // once, not per row
		}
		return sv, nil
	}
	return nil, fmt.Errorf("unexpected %s value", d.Kind())
}

// arrayValues holds an array made from a datum the caller releases; the
// array itself shares the datum's buffers.
type arrayValues struct{ a arrow.Array }

func (v arrayValues) valid(i int) bool { return v.a.IsValid(i) }
func (v arrayValues) release()         { v.a.Release() }

func (v arrayValues) truth(i int) bool {
	b, ok := v.a.(*array.Boolean)
	return ok && b.IsValid(i) && b.Value(i)
}

func (v arrayValues) appendTo(bld array.Builder, i int) error { return appendValue(bld, v.a, i) }

type scalarValues struct {
	s   scalar.Scalar
	str string
}

func (v scalarValues) valid(int) bool { return v.s.IsValid() }
func (v scalarValues) release()       {}

func (v scalarValues) truth(int) bool {
	b, ok := v.s.(*scalar.Boolean)
	return ok && b.Valid && b.Value
}

func (v scalarValues) appendTo(bld array.Builder, _ int) error {
	if !v.s.IsValid() {
		bld.AppendNull()
		return nil
	}
	switch s := v.s.(type) {
	case *scalar.Int32:
		bld.(*array.Int32Builder).Append(s.Value)
	case *scalar.Int64:
		bld.(*array.Int64Builder).Append(s.Value)
	case *scalar.Float64:
		bld.(*array.Float64Builder).Append(s.Value)
	case *scalar.Boolean:
		bld.(*array.BooleanBuilder).Append(s.Value)
	case *scalar.String:
		bld.(*array.StringBuilder).Append(v.str)
	case *scalar.Timestamp:
		bld.(*array.TimestampBuilder).Append(s.Value)
	default:
		return fmt.Errorf("values of type %s are not supported here", s.DataType())
	}
	return nil
}

// StringFunc is one of the hand-written string functions.
type StringFunc struct {
	Name string // lower, upper, length, concat, || (two arguments)
	Args []Expr
}

// Type implements Expr.
func (f *StringFunc) Type() arrow.DataType {
	if f.Name == "length" {
		return arrow.PrimitiveTypes.Int32
	}
	return arrow.BinaryTypes.String
}

func (f *StringFunc) String() string {
	if f.Name == "||" && len(f.Args) == 2 {
		return "(" + f.Args[0].String() + " || " + f.Args[1].String() + ")"
	}
	return f.Name + "(" + joinExprs(f.Args) + ")"
}

// Eval implements Expr.
func (f *StringFunc) Eval(ctx context.Context, b arrow.RecordBatch) (compute.Datum, error) {
	n := int(b.NumRows())
	arrs, err := evalArrays(ctx, b, f.Args)
	if err != nil {
		return nil, err
	}
	defer releaseArrays(arrs)
	strs := make([]*array.String, len(arrs))
	for i, a := range arrs {
		s, ok := a.(*array.String)
		if !ok {
			return nil, fmt.Errorf("%s: argument %d is %s, not text", f, i+1, a.DataType())
		}
		strs[i] = s
	}
	var out arrow.Array
	switch f.Name {
	case "lower", "upper":
		conv := strings.ToLower
		if f.Name == "upper" {
			conv = strings.ToUpper
		}
		bld := array.NewStringBuilder(mem)
		defer bld.Release()
		bld.Reserve(n)
		for i := 0; i < n; i++ {
			if strs[0].IsNull(i) {
				bld.AppendNull()
			} else {
				bld.Append(conv(strs[0].Value(i)))
			}
		}
		out = bld.NewArray()
	case "length":
		bld := array.NewInt32Builder(mem)
		defer bld.Release()
		bld.Reserve(n)
		for i := 0; i < n; i++ {
			if strs[0].IsNull(i) {
				bld.AppendNull()
			} else {
				bld.Append(int32(utf8.RuneCountInString(strs[0].Value(i))))
			}
		}
		out = bld.NewArray()
	case "concat":
		// Like PostgreSQL's concat: NULL arguments count as empty.
		bld := array.NewStringBuilder(mem)
		defer bld.Release()
		bld.Reserve(n)
		var sb strings.Builder
		for i := 0; i < n; i++ {
			sb.Reset()
			for _, s := range strs {
				if s.IsValid(i) {
					sb.WriteString(s.Value(i))
				}
			}
			bld.Append(sb.String())
		}
		out = bld.NewArray()
	case "||":
		// The operator, unlike concat(), is NULL if either side is.
		bld := array.NewStringBuilder(mem)
		defer bld.Release()
		bld.Reserve(n)
		for i := 0; i < n; i++ {
			if strs[0].IsNull(i) || strs[1].IsNull(i) {
				bld.AppendNull()
			} else {
				bld.Append(strs[0].Value(i) + strs[1].Value(i))
			}
		}
		out = bld.NewArray()
	default:
		return nil, fmt.Errorf("unknown string function %q", f.Name)
	}
	defer out.Release()
	return compute.NewDatum(out), nil
}

// Round rounds half away from zero to Digits decimal places.
type Round struct {
	Arg    Expr
	Digits int64
}

// Type implements Expr.
func (r *Round) Type() arrow.DataType { return r.Arg.Type() }

func (r *Round) String() string {
	if r.Digits == 0 {
		return "round(" + r.Arg.String() + ")"
	}
	return fmt.Sprintf("round(%s, %d)", r.Arg, r.Digits)
}

// Eval implements Expr.
func (r *Round) Eval(ctx context.Context, b arrow.RecordBatch) (compute.Datum, error) {
	d, err := r.Arg.Eval(ctx, b)
	if err != nil {
		return nil, err
	}
	if !arrow.IsFloating(r.Arg.Type().ID()) {
		return d, nil // integers are already round
	}
	defer d.Release()
	return compute.Round(ctx, compute.RoundOptions{NDigits: r.Digits, Mode: compute.RoundHalfTowardsInfinity}, d)
}
