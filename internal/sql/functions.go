package sql

import (
	"fmt"
	"math"
	"regexp"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/cockroachdb/cockroachdb-parser/pkg/sql/sem/tree"

	"github.com/runnel-dev/runnel/internal/engine/expr"
)

// rowFunctions are the scalar functions evaluated row by row: name ->
// argument types (the last may repeat when variadic), result type and
// implementation.
type rowFunction struct {
	args     []arrow.DataType
	variadic bool
	min      int
	result   arrow.DataType
	fn       func(a []any) (any, error)
}

var rowFunctions = map[string]rowFunction{
	"substr": {args: []arrow.DataType{typText, typInt64, typInt64}, min: 2, result: typText, fn: expr.Substr},
	"trim": {args: []arrow.DataType{typText}, result: typText, fn: func(a []any) (any, error) {
		return strings.TrimSpace(a[0].(string)), nil
	}},
	"ltrim": {args: []arrow.DataType{typText}, result: typText, fn: func(a []any) (any, error) {
		return strings.TrimLeft(a[0].(string), " \t\n\r"), nil
	}},
	"rtrim": {args: []arrow.DataType{typText}, result: typText, fn: func(a []any) (any, error) {
		return strings.TrimRight(a[0].(string), " \t\n\r"), nil
	}},
	"replace": {args: []arrow.DataType{typText, typText, typText}, result: typText, fn: func(a []any) (any, error) {
		return strings.ReplaceAll(a[0].(string), a[1].(string), a[2].(string)), nil
	}},
	"starts_with": {args: []arrow.DataType{typText, typText}, result: typBool, fn: func(a []any) (any, error) {
		return strings.HasPrefix(a[0].(string), a[1].(string)), nil
	}},
	"ends_with": {args: []arrow.DataType{typText, typText}, result: typBool, fn: func(a []any) (any, error) {
		return strings.HasSuffix(a[0].(string), a[1].(string)), nil
	}},
	"strpos": {args: []arrow.DataType{typText, typText}, result: typInt64, fn: func(a []any) (any, error) {
		i := strings.Index(a[0].(string), a[1].(string))
		if i < 0 {
			return int64(0), nil
		}
		return int64(len([]rune(a[0].(string)[:i])) + 1), nil
	}},
	"regexp_like": {args: []arrow.DataType{typText, typText}, result: typBool, fn: func(a []any) (any, error) {
		re, err := expr.Regexp(a[1].(string))
		if err != nil {
			return nil, err
		}
		return re.MatchString(a[0].(string)), nil
	}},
	"regexp_match": {args: []arrow.DataType{typText, typText}, result: typText, fn: func(a []any) (any, error) {
		re, err := expr.Regexp(a[1].(string))
		if err != nil {
			return nil, err
		}
		m := re.FindStringSubmatch(a[0].(string))
		switch {
		case m == nil:
			return nil, nil
		case len(m) > 1:
			return m[1], nil
		}
		return m[0], nil
	}},
	"regexp_replace": {args: []arrow.DataType{typText, typText, typText}, result: typText, fn: func(a []any) (any, error) {
		re, err := expr.Regexp(a[1].(string))
		if err != nil {
			return nil, err
		}
		return re.ReplaceAllString(a[0].(string), a[2].(string)), nil
	}},
	"floor": {args: []arrow.DataType{typFloat64}, result: typFloat64, fn: f1(math.Floor)},
	"ceil":  {args: []arrow.DataType{typFloat64}, result: typFloat64, fn: f1(math.Ceil)},
	"exp":   {args: []arrow.DataType{typFloat64}, result: typFloat64, fn: f1(math.Exp)},
	"ln":    {args: []arrow.DataType{typFloat64}, result: typFloat64, fn: f1(math.Log)},
	"log10": {args: []arrow.DataType{typFloat64}, result: typFloat64, fn: f1(math.Log10)},
	"sqrt":  {args: []arrow.DataType{typFloat64}, result: typFloat64, fn: func(a []any) (any, error) { return expr.Sqrt(a[0].(float64)), nil }},
	"power": {args: []arrow.DataType{typFloat64, typFloat64}, result: typFloat64, fn: func(a []any) (any, error) { return math.Pow(a[0].(float64), a[1].(float64)), nil }},
	"sign":  {args: []arrow.DataType{typFloat64}, result: typFloat64, fn: f1(func(x float64) float64 { return float64(sign(x)) })},
	"mod":   {args: []arrow.DataType{typInt64, typInt64}, result: typInt64, fn: modInt},

	"date_trunc": {args: []arrow.DataType{typText, typTimestamp}, result: typTimestamp, fn: func(a []any) (any, error) {
		return expr.DateTrunc(a[0].(string), a[1].(time.Time))
	}},
	"date_part": {args: []arrow.DataType{typText, typTimestamp}, result: typInt64, fn: func(a []any) (any, error) {
		return expr.DatePart(a[0].(string), a[1].(time.Time))
	}},
	"to_timestamp": {args: []arrow.DataType{typFloat64}, result: typTimestamp, fn: func(a []any) (any, error) {
		return time.UnixMicro(int64(math.Round(a[0].(float64) * 1e6))).UTC(), nil
	}},
	"to_timestamp_millis": {args: []arrow.DataType{typInt64}, result: typTimestamp, fn: func(a []any) (any, error) {
		return time.UnixMilli(a[0].(int64)).UTC(), nil
	}},
	"to_timestamp_micros": {args: []arrow.DataType{typInt64}, result: typTimestamp, fn: func(a []any) (any, error) {
		return time.UnixMicro(a[0].(int64)).UTC(), nil
	}},
	"extract_json_string": {args: []arrow.DataType{typText, typText}, result: typText, fn: func(a []any) (any, error) {
		keys, err := expr.SplitJSONPath(a[1].(string))
		if err != nil {
			return nil, err
		}
		v, ok := expr.JSONPath(a[0].(string), keys)
		if !ok || v == nil {
			return nil, nil
		}
		return expr.JSONText(v), nil
	}},
	"json_get_str": {args: []arrow.DataType{typText, typText}, variadic: true, min: 2, result: typText, fn: func(a []any) (any, error) {
		keys := make([]string, len(a)-1)
		for i := range keys {
			keys[i] = a[i+1].(string)
		}
		v, ok := expr.JSONPath(a[0].(string), keys)
		if s, isStr := v.(string); ok && isStr {
			return s, nil
		}
		return nil, nil
	}},
}

var functionAliases = map[string]string{
	"substring": "substr", "btrim": "trim", "ceiling": "ceil", "pow": "power",
	"extract": "date_part", "json_extract_path_text": "json_get_str",
}

func sign(x float64) int {
	switch {
	case x > 0:
		return 1
	case x < 0:
		return -1
	}
	return 0
}

func f1(f func(float64) float64) func(a []any) (any, error) {
	return func(a []any) (any, error) {
		r := f(a[0].(float64))
		if math.IsNaN(r) || math.IsInf(r, 0) {
			return nil, nil
		}
		return r, nil
	}
}

func modInt(a []any) (any, error) {
	if a[1].(int64) == 0 {
		return nil, fmt.Errorf("division by zero")
	}
	return a[0].(int64) % a[1].(int64), nil
}

var identRE = regexp.MustCompile(`^[a-z_]+$`)

// rowFunctionCall plans a call of a rowFunctions entry; ok is false for
// names it does not know.
func rowFunctionCall(x *tree.FuncExpr, name string, args []expr.Expr) (expr.Expr, bool, error) {
	if a, ok := functionAliases[name]; ok {
		name = a
	}
	f, ok := rowFunctions[name]
	if !ok || f.fn == nil {
		return nil, false, nil
	}
	max := len(f.args)
	minArgs := f.min
	if minArgs == 0 {
		minArgs = len(f.args)
	}
	if len(args) < minArgs || (!f.variadic && len(args) > max) {
		want := fmt.Sprint(minArgs)
		if max != minArgs || f.variadic {
			want = fmt.Sprintf("at least %d", minArgs)
			if !f.variadic {
				want = fmt.Sprintf("%d to %d", minArgs, max)
			}
		}
		return nil, true, errAt(x, "function %s takes %s arguments, got %d", name, want, len(args))
	}
	out := make([]expr.Expr, len(args))
	for i, a := range args {
		want := f.args[min(i, len(f.args)-1)]
		got := a.Type()
		if (name == "date_part" || name == "date_trunc") && i == 0 {
			if l, ok := a.(*expr.Literal); ok && !identRE.MatchString(strings.ToLower(l.Value.String())) {
				return nil, true, errAt(x, "%s: unknown unit %s", name, l.Value)
			}
		}
		if isNull(got) {
			out[i] = coerce(a, want)
			continue
		}
		switch {
		case arrow.TypeEqual(got, want):
			out[i] = a
		case isNumeric(want) && isNumeric(got):
			out[i] = coerce(a, want)
		default:
			return nil, true, errAt(x, "function %s: argument %d must be %s, got %s", name, i+1, typeName(want), typeName(got))
		}
	}
	return &expr.RowFunc{Name: name, Args: out, T: f.result, Fn: f.fn}, true, nil
}
