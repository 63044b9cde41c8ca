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
	"github.com/apache/arrow-go/v18/arrow/compute"
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

// Eval implements Expr.
func (m *Mod) Eval(ctx context.Context, b arrow.RecordBatch) (compute.Datum, error) {
	arrs, err := evalArrays(ctx, b, []Expr{m.Left, m.Right})
	if err != nil {
		return nil, err
	}
	defer releaseArrays(arrs)
	var out arrow.Array
	switch l := arrs[0].(type) {
	case *array.Int64:
		out, err = modInts(l, arrs[1].(*array.Int64), array.NewInt64Builder(mem))
	case *array.Int32:
		out, err = modInts(l, arrs[1].(*array.Int32), array.NewInt32Builder(mem))
	case *array.Float64:
		r := arrs[1].(*array.Float64)
		bld := array.NewFloat64Builder(mem)
		defer bld.Release()
		bld.Reserve(l.Len())
		for i := 0; i < l.Len(); i++ {
			if l.IsNull(i) || r.IsNull(i) {
				bld.AppendNull()
				continue
			}
			bld.Append(math.Mod(l.Value(i), r.Value(i)))
		}
		out = bld.NewArray()
	default:
		return nil, fmt.Errorf("%s: modulo of %s is not supported", m, l.DataType())
	}
	if err != nil {
		return nil, err
	}
	defer out.Release()
	return compute.NewDatum(out), nil
}

type intArray[T int32 | int64] interface {
	arrow.Array
	Value(int) T
}

type intBuilder[T int32 | int64] interface {
	array.Builder
	Append(T)
}

func modInts[T int32 | int64, A intArray[T], B intBuilder[T]](l, r A, bld B) (arrow.Array, error) {
	defer bld.Release()
	bld.Reserve(l.Len())
	for i := 0; i < l.Len(); i++ {
		if l.IsNull(i) || r.IsNull(i) {
			bld.AppendNull()
			continue
		}
		d := r.Value(i)
		switch d {
		case 0:
			return nil, ErrDivisionByZero
		case -1:
			// x % -1 is 0, and MinInt % -1 would trap.
			bld.Append(0)
		default:
			bld.Append(l.Value(i) % d)
		}
	}
	return bld.NewArray(), nil
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
	arrs, err := evalArrays(ctx, b, es)
	if err != nil {
		return nil, err
	}
	defer releaseArrays(arrs)
	bld := array.NewBuilder(mem, c.T)
	defer bld.Release()
	bld.Reserve(n)
	for i := 0; i < n; i++ {
		picked := false
		for w := range c.Whens {
			cond := arrs[2*w].(*array.Boolean)
			if cond.IsValid(i) && cond.Value(i) {
				if err := appendValue(bld, arrs[2*w+1], i); err != nil {
					return nil, err
				}
				picked = true
				break
			}
		}
		if picked {
			continue
		}
		if c.Else != nil {
			if err := appendValue(bld, arrs[len(arrs)-1], i); err != nil {
				return nil, err
			}
		} else {
			bld.AppendNull()
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
	arrs, err := evalArrays(ctx, b, c.Args)
	if err != nil {
		return nil, err
	}
	defer releaseArrays(arrs)
	bld := array.NewBuilder(mem, c.T)
	defer bld.Release()
	bld.Reserve(n)
	for i := 0; i < n; i++ {
		found := false
		for _, a := range arrs {
			if a.IsValid(i) {
				if err := appendValue(bld, a, i); err != nil {
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
