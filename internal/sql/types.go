package sql

import (
	"fmt"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/compute"
	"github.com/cockroachdb/cockroachdb-parser/pkg/sql/sem/tree"
	"github.com/cockroachdb/cockroachdb-parser/pkg/sql/types"

	"github.com/runnel-dev/runnel/internal/engine/expr"
)

// The SQL types the planner supports, as Arrow types.
var (
	typInt32     arrow.DataType = arrow.PrimitiveTypes.Int32
	typInt64     arrow.DataType = arrow.PrimitiveTypes.Int64
	typFloat64   arrow.DataType = arrow.PrimitiveTypes.Float64
	typText      arrow.DataType = arrow.BinaryTypes.String
	typBool      arrow.DataType = arrow.FixedWidthTypes.Boolean
	typTimestamp arrow.DataType = expr.Timestamp
	typNull      arrow.DataType = arrow.Null
)

// typeByName resolves type names the grammar leaves unresolved (it knows
// "double precision" but not "double").
var typeByName = map[string]arrow.DataType{
	"double": typFloat64, "double precision": typFloat64, "float": typFloat64, "float8": typFloat64,
	"float4": typFloat64, "real": typFloat64,
	"bigint": typInt64, "int8": typInt64, "int": typInt64, "integer": typInt64,
	"int4": typInt32, "int2": typInt32, "smallint": typInt32,
	"text": typText, "string": typText, "varchar": typText, "char": typText,
	"bool": typBool, "boolean": typBool,
	"timestamp": typTimestamp, "timestamptz": typTimestamp,
}

// arrowType maps a SQL type reference to an Arrow type.
func arrowType(ref tree.ResolvableTypeReference) (arrow.DataType, error) {
	switch t := ref.(type) {
	case *types.T:
		switch t.Family() {
		case types.IntFamily:
			if t.Width() == 64 {
				return typInt64, nil
			}
			return typInt32, nil
		case types.FloatFamily:
			return typFloat64, nil
		case types.StringFamily:
			return typText, nil
		case types.BoolFamily:
			return typBool, nil
		case types.TimestampFamily, types.TimestampTZFamily:
			return typTimestamp, nil
		}
		return nil, fmt.Errorf("type %s is not supported", t.SQLString())
	case *tree.UnresolvedObjectName:
		name := strings.ToLower(t.String())
		if at, ok := typeByName[name]; ok {
			return at, nil
		}
		return nil, fmt.Errorf("unknown type %s", t.String())
	}
	return nil, fmt.Errorf("type %s is not supported", ref.SQLString())
}

func typeName(t arrow.DataType) string { return expr.SQLTypeName(t) }

func isNumeric(t arrow.DataType) bool {
	switch t.ID() {
	case arrow.INT32, arrow.INT64, arrow.FLOAT64:
		return true
	}
	return false
}

func isNull(t arrow.DataType) bool { return t.ID() == arrow.NULL }

func numericRank(t arrow.DataType) int {
	switch t.ID() {
	case arrow.INT32:
		return 1
	case arrow.INT64:
		return 2
	case arrow.FLOAT64:
		return 3
	}
	return 0
}

// commonType is the type two values are compared or combined as, if any:
// numbers widen, NULL takes the other side's type.
func commonType(a, b arrow.DataType) (arrow.DataType, bool) {
	switch {
	case isNull(a):
		return b, true
	case isNull(b):
		return a, true
	case arrow.TypeEqual(a, b):
		return a, true
	case isNumeric(a) && isNumeric(b):
		if numericRank(a) >= numericRank(b) {
			return a, true
		}
		return b, true
	}
	return nil, false
}

// coerce converts e to type t when the conversion is implicit.
func coerce(e expr.Expr, t arrow.DataType) expr.Expr {
	if arrow.TypeEqual(e.Type(), t) {
		return e
	}
	return &expr.Cast{Arg: e, To: t}
}

// canCast reports whether CAST(from AS to) is allowed.
func canCast(from, to arrow.DataType) bool {
	switch {
	case isNull(from), arrow.TypeEqual(from, to), to.ID() == arrow.STRING:
		return true
	case to.ID() == arrow.TIMESTAMP:
		return from.ID() == arrow.STRING
	case from.ID() == arrow.TIMESTAMP:
		return false
	}
	return compute.CanCast(from, to)
}
