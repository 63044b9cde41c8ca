package expr

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/compute"
)

// RowFunc is a scalar function evaluated row by row in Go, for the many
// functions arrow's compute kernels lack. Arguments arrive as int64,
// float64, string, bool or time.Time (UTC); NULL arguments give NULL
// without calling Fn. Fn returns a value of the result type's Go form, or
// nil for NULL.
type RowFunc struct {
	Name string
	Args []Expr
	T    arrow.DataType
	Fn   func(args []any) (any, error)
}

// Type implements Expr.
func (f *RowFunc) Type() arrow.DataType { return f.T }

func (f *RowFunc) String() string { return f.Name + "(" + joinExprs(f.Args) + ")" }

// Eval implements Expr.
func (f *RowFunc) Eval(ctx context.Context, b arrow.RecordBatch) (compute.Datum, error) {
	n := int(b.NumRows())
	arrs, err := evalArrays(ctx, b, f.Args)
	if err != nil {
		return nil, err
	}
	defer releaseArrays(arrs)
	bld := array.NewBuilder(mem, f.T)
	defer bld.Release()
	bld.Reserve(n)
	vals := make([]any, len(arrs))
rows:
	for r := 0; r < n; r++ {
		for i, a := range arrs {
			if a.IsNull(r) {
				bld.AppendNull()
				continue rows
			}
			vals[i] = goValue(a, r)
		}
		v, err := f.Fn(vals)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", f.Name, err)
		}
		if v == nil {
			bld.AppendNull()
			continue
		}
		switch x := bld.(type) {
		case *array.Int64Builder:
			x.Append(v.(int64))
		case *array.Float64Builder:
			x.Append(v.(float64))
		case *array.StringBuilder:
			x.Append(v.(string))
		case *array.BooleanBuilder:
			x.Append(v.(bool))
		case *array.TimestampBuilder:
			x.Append(arrow.Timestamp(v.(time.Time).UnixMicro()))
		default:
			return nil, fmt.Errorf("%s: unsupported result type %s", f.Name, f.T)
		}
	}
	out := bld.NewArray()
	defer out.Release()
	return compute.NewDatum(out), nil
}

func goValue(a arrow.Array, r int) any {
	switch x := a.(type) {
	case *array.Int64:
		return x.Value(r)
	case *array.Int32:
		return int64(x.Value(r))
	case *array.Float64:
		return x.Value(r)
	case *array.String:
		return x.Value(r)
	case *array.Boolean:
		return x.Value(r)
	case *array.Timestamp:
		return time.UnixMicro(int64(x.Value(r))).UTC()
	}
	return a.ValueStr(r)
}

// Scalar functions, by name: each takes Go values as described on
// RowFunc.
var (
	regexMu    sync.Mutex
	regexCache = map[string]*regexp.Regexp{}
)

// Regexp compiles a pattern once per process.
func Regexp(p string) (*regexp.Regexp, error) {
	regexMu.Lock()
	defer regexMu.Unlock()
	if re, ok := regexCache[p]; ok {
		return re, nil
	}
	re, err := regexp.Compile(p)
	if err != nil {
		return nil, err
	}
	if len(regexCache) < 1024 {
		regexCache[p] = re
	}
	return re, nil
}

// Substr is PostgreSQL's substr(s, start[, count]) on characters.
func Substr(a []any) (any, error) {
	rs := []rune(a[0].(string))
	start := a[1].(int64) - 1
	end := int64(len(rs))
	if len(a) > 2 {
		c := a[2].(int64)
		if c < 0 {
			return nil, fmt.Errorf("negative substring length not allowed")
		}
		end = start + c
	}
	start = max(start, 0)
	end = min(end, int64(len(rs)))
	if start >= end {
		return "", nil
	}
	return string(rs[start:end]), nil
}

// DateTrunc truncates a timestamp to a unit (microsecond ... year).
func DateTrunc(unit string, t time.Time) (time.Time, error) {
	switch strings.ToLower(unit) {
	case "microsecond", "microseconds":
		return t, nil
	case "millisecond", "milliseconds":
		return t.Truncate(time.Millisecond), nil
	case "second", "seconds":
		return t.Truncate(time.Second), nil
	case "minute", "minutes":
		return t.Truncate(time.Minute), nil
	case "hour", "hours":
		return t.Truncate(time.Hour), nil
	case "day", "days":
		return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC), nil
	case "week", "weeks":
		d := time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
		wd := (int(d.Weekday()) + 6) % 7 // Monday first
		return d.AddDate(0, 0, -wd), nil
	case "month", "months":
		return time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, time.UTC), nil
	case "quarter":
		m := (int(t.Month())-1)/3*3 + 1
		return time.Date(t.Year(), time.Month(m), 1, 0, 0, 0, 0, time.UTC), nil
	case "year", "years":
		return time.Date(t.Year(), 1, 1, 0, 0, 0, 0, time.UTC), nil
	}
	return time.Time{}, fmt.Errorf("unknown unit '%s'", unit)
}

// DatePart extracts a field of a timestamp.
func DatePart(field string, t time.Time) (int64, error) {
	switch strings.ToLower(field) {
	case "year":
		return int64(t.Year()), nil
	case "quarter":
		return int64((int(t.Month())-1)/3 + 1), nil
	case "month":
		return int64(t.Month()), nil
	case "week":
		_, w := t.ISOWeek()
		return int64(w), nil
	case "day":
		return int64(t.Day()), nil
	case "dow":
		return int64(t.Weekday()), nil
	case "doy":
		return int64(t.YearDay()), nil
	case "hour":
		return int64(t.Hour()), nil
	case "minute":
		return int64(t.Minute()), nil
	case "second":
		return int64(t.Second()), nil
	case "millisecond", "milliseconds":
		return int64(t.Second())*1000 + int64(t.Nanosecond())/1e6, nil
	case "microsecond", "microseconds":
		return int64(t.Second())*1e6 + int64(t.Nanosecond())/1e3, nil
	case "epoch":
		return t.Unix(), nil
	}
	return 0, fmt.Errorf("unknown field '%s'", field)
}

// JSONPath reads a value at a path such as $.a.b[0] (or the keys given
// one by one) from a JSON text; ok is false if it is absent.
func JSONPath(doc string, keys []string) (any, bool) {
	var v any
	if err := json.Unmarshal([]byte(doc), &v); err != nil {
		return nil, false
	}
	for _, k := range keys {
		switch x := v.(type) {
		case map[string]any:
			var ok bool
			if v, ok = x[k]; !ok {
				return nil, false
			}
		case []any:
			i, err := strconv.Atoi(k)
			if err != nil || i < 0 || i >= len(x) {
				return nil, false
			}
			v = x[i]
		default:
			return nil, false
		}
	}
	return v, true
}

// SplitJSONPath turns $.a.b[0] into [a b 0].
func SplitJSONPath(p string) ([]string, error) {
	if !strings.HasPrefix(p, "$") {
		return nil, fmt.Errorf("a JSON path starts with $, got '%s'", p)
	}
	p = strings.ReplaceAll(strings.ReplaceAll(p[1:], "[", "."), "]", "")
	var keys []string
	for _, k := range strings.Split(p, ".") {
		if k != "" {
			keys = append(keys, strings.Trim(k, `"'`))
		}
	}
	return keys, nil
}

// JSONText renders a JSON value as text: strings bare, others as JSON.
func JSONText(v any) string {
	if s, ok := v.(string); ok {
		return s
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// Float math helpers that return NULL (nil) where PostgreSQL errors.
func Sqrt(x float64) any {
	if x < 0 {
		return nil
	}
	return math.Sqrt(x)
}
