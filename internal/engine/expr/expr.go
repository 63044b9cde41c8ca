// Package expr evaluates typed scalar expressions over Arrow record batches,
// a whole column at a time. It uses arrow-go's compute kernels where they
// exist (arithmetic, comparison, boolean logic, casts) and hand-written
// loops only for what compute lacks (modulo, CASE, COALESCE, a few string
// functions).
package expr

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/compute"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/arrow/scalar"
)

// Expr is a typed expression.
type Expr interface {
	// Type is the Arrow type of the result.
	Type() arrow.DataType
	// Eval evaluates the expression over every row of b. The result is an
	// array of b.NumRows() values or a scalar standing for all of them;
	// the caller releases it.
	Eval(ctx context.Context, b arrow.RecordBatch) (compute.Datum, error)
	// String is SQL-like text for plans and errors.
	String() string
}

var mem = memory.DefaultAllocator

// Column reads one column of the input batch.
type Column struct {
	Index int
	Name  string
	T     arrow.DataType
}

// Type implements Expr.
func (c *Column) Type() arrow.DataType { return c.T }

// Eval implements Expr.
func (c *Column) Eval(_ context.Context, b arrow.RecordBatch) (compute.Datum, error) {
	if c.Index < 0 || c.Index >= int(b.NumCols()) {
		return nil, fmt.Errorf("column %q (#%d) is not in a batch of %d columns", c.Name, c.Index, b.NumCols())
	}
	return compute.NewDatum(b.Column(c.Index)), nil
}

func (c *Column) String() string { return c.Name }

// Literal is a constant.
type Literal struct {
	Value scalar.Scalar
}

// NewLiteral makes a literal of a Go value (int64, float64, string, bool,
// time.Time) or a typed null when v is nil.
func NewLiteral(v any, t arrow.DataType) *Literal {
	if v == nil {
		return &Literal{Value: scalar.MakeNullScalar(t)}
	}
	switch x := v.(type) {
	case int64:
		if t != nil && t.ID() == arrow.INT32 {
			return &Literal{Value: scalar.NewInt32Scalar(int32(x))}
		}
		return &Literal{Value: scalar.NewInt64Scalar(x)}
	case time.Time:
		return &Literal{Value: scalar.NewTimestampScalar(arrow.Timestamp(x.UnixMicro()), Timestamp)}
	}
	return &Literal{Value: scalar.MakeScalar(v)}
}

// Type implements Expr.
func (l *Literal) Type() arrow.DataType { return l.Value.DataType() }

// Eval implements Expr.
func (l *Literal) Eval(context.Context, arrow.RecordBatch) (compute.Datum, error) {
	return compute.NewDatum(l.Value), nil
}

func (l *Literal) String() string {
	if !l.Value.IsValid() {
		return "NULL"
	}
	if l.Value.DataType().ID() == arrow.STRING {
		return "'" + strings.ReplaceAll(l.Value.String(), "'", "''") + "'"
	}
	return l.Value.String()
}

// Call applies a compute function to its arguments.
type Call struct {
	// Func is the compute function's name, e.g. "add_unchecked".
	Func string
	// Op is how the call is shown: an infix symbol ("+") when Infix, else
	// a function name.
	Op    string
	Infix bool
	Args  []Expr
	Opts  compute.FunctionOptions
	T     arrow.DataType
}

// Type implements Expr.
func (c *Call) Type() arrow.DataType { return c.T }

// Eval implements Expr.
func (c *Call) Eval(ctx context.Context, b arrow.RecordBatch) (compute.Datum, error) {
	args, err := evalAll(ctx, b, c.Args)
	if err != nil {
		return nil, err
	}
	defer releaseAll(args)
	out, err := compute.CallFunction(ctx, c.Func, c.Opts, args...)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", c, err)
	}
	return out, nil
}

func (c *Call) String() string {
	if c.Infix && len(c.Args) == 2 {
		return "(" + c.Args[0].String() + " " + c.Op + " " + c.Args[1].String() + ")"
	}
	if c.Infix && len(c.Args) == 1 {
		return c.Op + " " + c.Args[0].String()
	}
	return c.Op + "(" + joinExprs(c.Args) + ")"
}

// Cast converts a value to another type.
type Cast struct {
	Arg Expr
	To  arrow.DataType
}

// Type implements Expr.
func (c *Cast) Type() arrow.DataType { return c.To }

// Eval implements Expr.
func (c *Cast) Eval(ctx context.Context, b arrow.RecordBatch) (compute.Datum, error) {
	d, err := c.Arg.Eval(ctx, b)
	if err != nil {
		return nil, err
	}
	from := c.Arg.Type()
	if arrow.TypeEqual(from, c.To) {
		return d, nil
	}
	defer d.Release()
	if from.ID() == arrow.NULL {
		return compute.NewDatum(scalar.MakeNullScalar(c.To)), nil
	}
	if from.ID() == arrow.STRING && c.To.ID() == arrow.TIMESTAMP {
		return parseTimestamps(d, int(b.NumRows()))
	}
	opts := compute.SafeCastOptions(c.To)
	if arrow.IsFloating(from.ID()) && arrow.IsInteger(c.To.ID()) {
		// SQL engines in the DataFusion family truncate here.
		opts.AllowFloatTruncate = true
	}
	out, err := compute.CastDatum(ctx, d, opts)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", c, err)
	}
	return out, nil
}

func (c *Cast) String() string {
	return "CAST(" + c.Arg.String() + " AS " + SQLTypeName(c.To) + ")"
}

// Timestamp is the type of SQL TIMESTAMP values: microseconds, no zone
// (read as UTC).
var Timestamp = &arrow.TimestampType{Unit: arrow.Microsecond}

// SQLTypeName is the SQL name of an Arrow type, for messages.
func SQLTypeName(t arrow.DataType) string {
	switch t.ID() {
	case arrow.INT32:
		return "INT"
	case arrow.INT64:
		return "BIGINT"
	case arrow.FLOAT64:
		return "DOUBLE"
	case arrow.STRING:
		return "TEXT"
	case arrow.BOOL:
		return "BOOLEAN"
	case arrow.TIMESTAMP:
		return "TIMESTAMP"
	case arrow.NULL:
		return "NULL"
	}
	return strings.ToUpper(t.String())
}

var timestampLayouts = []string{
	time.RFC3339Nano,
	"2006-01-02T15:04:05.999999999",
	"2006-01-02 15:04:05.999999999Z07:00",
	"2006-01-02 15:04:05.999999999",
	"2006-01-02",
}

func parseTimestamps(d compute.Datum, n int) (compute.Datum, error) {
	arr, err := ToArray(d, n)
	if err != nil {
		return nil, err
	}
	defer arr.Release()
	strs := arr.(*array.String)
	bld := array.NewTimestampBuilder(mem, Timestamp)
	defer bld.Release()
	bld.Reserve(n)
	for i := 0; i < strs.Len(); i++ {
		if strs.IsNull(i) {
			bld.AppendNull()
			continue
		}
		ts, err := parseTimestamp(strs.Value(i))
		if err != nil {
			return nil, err
		}
		bld.Append(arrow.Timestamp(ts.UnixMicro()))
	}
	out := bld.NewArray()
	defer out.Release()
	return compute.NewDatum(out), nil
}

func parseTimestamp(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	for _, layout := range timestampLayouts {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("cannot parse %q as a timestamp", s)
}

// ToArray materialises a datum as an array of n values; the caller
// releases it.
func ToArray(d compute.Datum, n int) (arrow.Array, error) {
	switch v := d.(type) {
	case *compute.ArrayDatum:
		return v.MakeArray(), nil
	case *compute.ScalarDatum:
		return scalar.MakeArrayFromScalar(v.Value, n, mem)
	}
	return nil, fmt.Errorf("unexpected %s result", d.Kind())
}

func evalAll(ctx context.Context, b arrow.RecordBatch, es []Expr) ([]compute.Datum, error) {
	out := make([]compute.Datum, 0, len(es))
	for _, e := range es {
		d, err := e.Eval(ctx, b)
		if err != nil {
			releaseAll(out)
			return nil, err
		}
		out = append(out, d)
	}
	return out, nil
}

func evalArrays(ctx context.Context, b arrow.RecordBatch, es []Expr) ([]arrow.Array, error) {
	ds, err := evalAll(ctx, b, es)
	if err != nil {
		return nil, err
	}
	defer releaseAll(ds)
	out := make([]arrow.Array, 0, len(ds))
	for _, d := range ds {
		a, err := ToArray(d, int(b.NumRows()))
		if err != nil {
			releaseArrays(out)
			return nil, err
		}
		out = append(out, a)
	}
	return out, nil
}

func releaseAll(ds []compute.Datum) {
	for _, d := range ds {
		d.Release()
	}
}

func releaseArrays(as []arrow.Array) {
	for _, a := range as {
		a.Release()
	}
}

func joinExprs(es []Expr) string {
	s := make([]string, len(es))
	for i, e := range es {
		s[i] = e.String()
	}
	return strings.Join(s, ", ")
}
