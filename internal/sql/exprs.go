package sql

import (
	"fmt"
	"go/constant"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/scalar"
	"github.com/cockroachdb/cockroachdb-parser/pkg/sql/sem/tree"
	"github.com/cockroachdb/cockroachdb-parser/pkg/sql/sem/tree/treebin"
	"github.com/cockroachdb/cockroachdb-parser/pkg/sql/sem/tree/treecmp"

	"github.com/runnel-dev/runnel/internal/connectors"
	"github.com/runnel-dev/runnel/internal/engine/expr"
)

// semError is a problem found while checking a statement, with what to
// point at: an expression, an identifier or a string literal.
type semError struct {
	msg  string
	node tree.NodeFormatter
	name string
	str  string
}

func (e *semError) Error() string { return e.msg }

func errAt(node tree.NodeFormatter, format string, args ...any) *semError {
	return &semError{msg: fmt.Sprintf(format, args...), node: node}
}

// scope is what names in a SELECT can refer to: the columns of its one
// input table, optionally qualified by the table's name or alias.
type scope struct {
	tableName string
	alias     string
	cols      []connectors.Column
	// parts, for a join, are the joined relations: each a name and a
	// range of cols.
	parts []scopePart
}

type scopePart struct {
	name, alias string
	off, n      int
}

// part finds a joined relation by name or alias.
func (s *scope) part(q string) (scopePart, bool) {
	for _, p := range s.parts {
		if q == p.name || q == p.alias {
			return p, true
		}
	}
	return scopePart{}, false
}

// lookupIn finds a column of one joined relation.
func (s *scope) lookupIn(p scopePart, name string) (int, bool) {
	for i := p.off; i < p.off+p.n; i++ {
		if s.cols[i].Name == name {
			return i, true
		}
	}
	return -1, false
}

func (s *scope) lookup(name string) (int, bool) {
	for i, c := range s.cols {
		if c.Name == name {
			return i, true
		}
	}
	return -1, false
}

func (s *scope) columnNames() string {
	names := make([]string, len(s.cols))
	for i, c := range s.cols {
		names[i] = c.Name
	}
	return strings.Join(names, ", ")
}

var comparisonFuncs = map[treecmp.ComparisonOperatorSymbol]string{
	treecmp.EQ: "equal", treecmp.NE: "not_equal",
	treecmp.LT: "less", treecmp.LE: "less_equal",
	treecmp.GT: "greater", treecmp.GE: "greater_equal",
}

var aggregates = map[string]bool{
	"count": true, "sum": true, "avg": true, "min": true, "max": true,
	"array_agg": true, "string_agg": true, "bool_and": true, "bool_or": true,
	"stddev": true, "variance": true,
}

// convert type-checks an expression and builds its evaluator.
func convert(e tree.Expr, sc *scope) (expr.Expr, error) {
	switch x := e.(type) {
	case *tree.ParenExpr:
		return convert(x.Expr, sc)
	case *tree.UnresolvedName:
		return column(x, sc)
	case *tree.NumVal:
		return numLiteral(x)
	case *tree.StrVal:
		return expr.NewLiteral(x.RawString(), typText), nil
	case *tree.DBool:
		return expr.NewLiteral(bool(*x), typBool), nil
	case *tree.DString:
		return expr.NewLiteral(string(*x), typText), nil
	case *tree.DInt:
		return expr.NewLiteral(int64(*x), typInt64), nil
	case *tree.DFloat:
		return expr.NewLiteral(float64(*x), typFloat64), nil
	case *tree.BinaryExpr:
		return binary(x, sc)
	case *tree.ComparisonExpr:
		return comparison(x, sc)
	case *tree.AndExpr:
		return logical(x, "and_kleene", "AND", x.Left, x.Right, sc)
	case *tree.OrExpr:
		return logical(x, "or_kleene", "OR", x.Left, x.Right, sc)
	case *tree.NotExpr:
		arg, err := boolean(x.Expr, sc, "NOT")
		if err != nil {
			return nil, err
		}
		return &expr.Call{Func: "not", Op: "NOT", Infix: true, Args: []expr.Expr{arg}, T: typBool}, nil
	case *tree.IsNullExpr:
		return nullTest(x.Expr, "is_null", "IS NULL", sc)
	case *tree.IsNotNullExpr:
		return nullTest(x.Expr, "is_not_null", "IS NOT NULL", sc)
	case *tree.RangeCond:
		return between(x, sc)
	case *tree.CaseExpr:
		return caseExpr(x, sc)
	case *tree.CoalesceExpr:
		return coalesce(x, x.Exprs, sc)
	case *tree.CastExpr:
		return cast(x, sc)
	case *tree.FuncExpr:
		return function(x, sc)
	case *tree.UnaryExpr:
		return unary(x, sc)
	case *tree.ColumnAccessExpr:
		if x.ByIndex {
			return nil, errAt(x, "field access by position is not supported")
		}
		s, err := convert(x.Expr, sc)
		if err != nil {
			return nil, err
		}
		return structField(x, s, string(x.ColName))
	case tree.UnqualifiedStar:
		return nil, errAt(x, "* is only allowed as a whole item of the select list")
	case *tree.Subquery:
		return nil, errAt(x, "subqueries are not supported")
	case *tree.Placeholder:
		return nil, errAt(x, "placeholders such as %s are not supported", tree.AsString(x))
	case *tree.Tuple:
		return nil, errAt(x, "tuples are not supported here")
	case *tree.Array, *tree.ArrayFlatten:
		return nil, errAt(e, "arrays are not supported")
	}
	if e == tree.DNull {
		return expr.NewLiteral(nil, typNull), nil
	}
	return nil, errAt(e, "expression %s is not supported", tree.AsString(e))
}

func column(x *tree.UnresolvedName, sc *scope) (expr.Expr, error) {
	if x.Star {
		return nil, errAt(x, "%s is only allowed as a whole item of the select list", tree.AsString(x))
	}
	// Parts are stored last first: c, t.c, t.s.f, or s.f for a field f of
	// a struct column s.
	parts := make([]string, x.NumParts)
	for i := range parts {
		parts[i] = x.Parts[x.NumParts-1-i]
	}
	if len(sc.parts) > 0 {
		if p, ok := sc.part(parts[0]); ok && len(parts) >= 2 {
			i, ok := sc.lookupIn(p, parts[1])
			if !ok {
				return nil, &semError{msg: fmt.Sprintf("unknown column '%s' in '%s'", parts[1], parts[0]), name: parts[1]}
			}
			var e expr.Expr = &expr.Column{Index: i, Name: parts[1], T: sc.cols[i].Type}
			for _, f := range parts[2:] {
				var err error
				if e, err = structField(x, e, f); err != nil {
					return nil, err
				}
			}
			return e, nil
		}
		n := 0
		for _, c := range sc.cols {
			if c.Name == parts[0] {
				n++
			}
		}
		if n > 1 {
			return nil, &semError{msg: fmt.Sprintf("column '%s' is ambiguous; qualify it with a table name or alias", parts[0]), name: parts[0]}
		}
		if len(parts) == 1 {
			return lookupColumn(parts[0], sc)
		}
		if _, ok := sc.lookup(parts[0]); !ok {
			return nil, &semError{msg: fmt.Sprintf("unknown table or column '%s' in %s", parts[0], tree.AsString(x)), name: parts[0]}
		}
		return fieldOf(x, parts[0], parts[1:], sc)
	}
	isTable := func(q string) bool { return q == sc.tableName || q == sc.alias }
	switch {
	case len(parts) == 1:
		return lookupColumn(parts[0], sc)
	case len(parts) == 2 && isTable(parts[0]):
		return lookupColumn(parts[1], sc)
	case len(parts) == 2:
		if _, ok := sc.lookup(parts[0]); !ok {
			return nil, &semError{msg: fmt.Sprintf("unknown table or column '%s' in %s", parts[0], tree.AsString(x)), name: parts[0]}
		}
		return fieldOf(x, parts[0], parts[1:], sc)
	case isTable(parts[0]):
		return fieldOf(x, parts[1], parts[2:], sc)
	}
	return nil, &semError{msg: fmt.Sprintf("unknown table '%s' in %s", parts[0], tree.AsString(x)), name: parts[0]}
}

func lookupColumn(col string, sc *scope) (expr.Expr, error) {
	i, ok := sc.lookup(col)
	if !ok {
		return nil, &semError{
			msg:  fmt.Sprintf("unknown column '%s' in table '%s' (columns: %s)", col, sc.tableName, sc.columnNames()),
			name: col,
		}
	}
	return &expr.Column{Index: i, Name: col, T: sc.cols[i].Type}, nil
}

// fieldOf resolves column.field[.field...].
func fieldOf(node tree.NodeFormatter, col string, fields []string, sc *scope) (expr.Expr, error) {
	e, err := lookupColumn(col, sc)
	if err != nil {
		return nil, err
	}
	for _, f := range fields {
		if e, err = structField(node, e, f); err != nil {
			return nil, err
		}
	}
	return e, nil
}

func structField(node tree.NodeFormatter, e expr.Expr, name string) (expr.Expr, error) {
	st, ok := e.Type().(*arrow.StructType)
	if !ok {
		return nil, errAt(node, "%s is %s, not a struct: it has no field '%s'", e, typeName(e.Type()), name)
	}
	i, ok := st.FieldIdx(name)
	if !ok {
		names := make([]string, st.NumFields())
		for j, f := range st.Fields() {
			names[j] = f.Name
		}
		return nil, &semError{msg: fmt.Sprintf("%s has no field '%s' (fields: %s)", e, name, strings.Join(names, ", ")), name: name}
	}
	return &expr.Field{Struct: e, Index: i, Name: name, T: st.Field(i).Type}, nil
}

func numLiteral(x *tree.NumVal) (expr.Expr, error) {
	if x.Kind() == constant.Int {
		n, err := x.AsInt64()
		if err != nil {
			return nil, errAt(x, "integer literal %s is out of range for BIGINT", x.OrigString())
		}
		return expr.NewLiteral(n, typInt64), nil
	}
	f, _ := constant.Float64Val(constant.ToFloat(x.AsConstantValue()))
	return expr.NewLiteral(f, typFloat64), nil
}

func binary(x *tree.BinaryExpr, sc *scope) (expr.Expr, error) {
	l, err := convert(x.Left, sc)
	if err != nil {
		return nil, err
	}
	r, err := convert(x.Right, sc)
	if err != nil {
		return nil, err
	}
	sym := x.Operator.Symbol
	if sym == treebin.Concat {
		if l.Type().ID() != arrow.STRING && r.Type().ID() != arrow.STRING {
			return nil, errAt(x, "operator || needs a TEXT operand, got %s and %s", typeName(l.Type()), typeName(r.Type()))
		}
		return &expr.StringFunc{Name: "||", Args: []expr.Expr{coerce(l, typText), coerce(r, typText)}}, nil
	}
	names := map[treebin.BinaryOperatorSymbol]string{
		treebin.Plus: "add_unchecked", treebin.Minus: "subtract_unchecked",
		treebin.Mult: "multiply_unchecked", treebin.Div: "divide", treebin.Mod: "%",
	}
	fn, ok := names[sym]
	if !ok {
		return nil, errAt(x, "operator %s is not supported", x.Operator.String())
	}
	t, ok := commonType(l.Type(), r.Type())
	if ok && isNull(t) {
		t = typInt64
	}
	if !ok || !isNumeric(t) {
		return nil, errAt(x, "cannot apply operator %s to %s and %s", x.Operator.String(), typeName(l.Type()), typeName(r.Type()))
	}
	l, r = coerce(l, t), coerce(r, t)
	if sym == treebin.Mod {
		return &expr.Mod{Left: l, Right: r}, nil
	}
	if sym == treebin.Div && t.ID() == arrow.FLOAT64 {
		fn = "divide_unchecked" // IEEE semantics: x/0 is ±Inf
	}
	return &expr.Call{Func: fn, Op: x.Operator.String(), Infix: true, Args: []expr.Expr{l, r}, T: t}, nil
}

func comparison(x *tree.ComparisonExpr, sc *scope) (expr.Expr, error) {
	sym := x.Operator.Symbol
	if sym == treecmp.In || sym == treecmp.NotIn {
		return inList(x, sc)
	}
	fn, ok := comparisonFuncs[sym]
	if !ok {
		return nil, errAt(x, "operator %s is not supported", x.Operator.String())
	}
	l, err := convert(x.Left, sc)
	if err != nil {
		return nil, err
	}
	r, err := convert(x.Right, sc)
	if err != nil {
		return nil, err
	}
	return compare(x, fn, x.Operator.String(), l, r)
}

func compare(node tree.NodeFormatter, fn, op string, l, r expr.Expr) (expr.Expr, error) {
	t, ok := commonType(l.Type(), r.Type())
	if !ok {
		// A timestamp compared with a string literal reads the string as a
		// timestamp, as in PostgreSQL.
		switch {
		case l.Type().ID() == arrow.TIMESTAMP && isStringLiteral(r):
			t, ok = l.Type(), true
		case r.Type().ID() == arrow.TIMESTAMP && isStringLiteral(l):
			t, ok = r.Type(), true
		}
	}
	if !ok {
		return nil, errAt(node, "cannot compare %s with %s", typeName(l.Type()), typeName(r.Type()))
	}
	if isNull(t) {
		return expr.NewLiteral(nil, typBool), nil
	}
	return &expr.Call{Func: fn, Op: op, Infix: true, Args: []expr.Expr{coerce(l, t), coerce(r, t)}, T: typBool}, nil
}

func isStringLiteral(e expr.Expr) bool {
	l, ok := e.(*expr.Literal)
	return ok && l.Type().ID() == arrow.STRING
}

// inList plans `x IN (a, b)` as `x = a OR x = b`.
func inList(x *tree.ComparisonExpr, sc *scope) (expr.Expr, error) {
	if _, sub := x.Right.(*tree.Subquery); sub {
		return nil, errAt(x.Right, "subqueries are not supported in expressions (IN (SELECT ...)); use a JOIN")
	}
	tuple, ok := x.Right.(*tree.Tuple)
	if !ok || len(tuple.Exprs) == 0 {
		return nil, errAt(x, "IN needs a list of values")
	}
	l, err := convert(x.Left, sc)
	if err != nil {
		return nil, err
	}
	var out expr.Expr
	for _, item := range tuple.Exprs {
		r, err := convert(item, sc)
		if err != nil {
			return nil, err
		}
		eq, err := compare(x, "equal", "=", l, r)
		if err != nil {
			return nil, err
		}
		if out == nil {
			out = eq
		} else {
			out = &expr.Call{Func: "or_kleene", Op: "OR", Infix: true, Args: []expr.Expr{out, eq}, T: typBool}
		}
	}
	if x.Operator.Symbol == treecmp.NotIn {
		out = &expr.Call{Func: "not", Op: "NOT", Infix: true, Args: []expr.Expr{out}, T: typBool}
	}
	return out, nil
}

func between(x *tree.RangeCond, sc *scope) (expr.Expr, error) {
	if x.Symmetric {
		return nil, errAt(x, "BETWEEN SYMMETRIC is not supported")
	}
	l, err := convert(x.Left, sc)
	if err != nil {
		return nil, err
	}
	from, err := convert(x.From, sc)
	if err != nil {
		return nil, err
	}
	to, err := convert(x.To, sc)
	if err != nil {
		return nil, err
	}
	ge, err := compare(x, "greater_equal", ">=", l, from)
	if err != nil {
		return nil, err
	}
	le, err := compare(x, "less_equal", "<=", l, to)
	if err != nil {
		return nil, err
	}
	var out expr.Expr = &expr.Call{Func: "and_kleene", Op: "AND", Infix: true, Args: []expr.Expr{ge, le}, T: typBool}
	if x.Not {
		out = &expr.Call{Func: "not", Op: "NOT", Infix: true, Args: []expr.Expr{out}, T: typBool}
	}
	return out, nil
}

// boolean converts an expression that must be a condition.
func boolean(e tree.Expr, sc *scope, where string) (expr.Expr, error) {
	c, err := convert(e, sc)
	if err != nil {
		return nil, err
	}
	switch {
	case isNull(c.Type()):
		return coerce(c, typBool), nil
	case c.Type().ID() != arrow.BOOL:
		return nil, errAt(e, "%s needs a BOOLEAN, but %s is %s", where, tree.AsString(e), typeName(c.Type()))
	}
	return c, nil
}

func logical(node tree.Expr, fn, op string, left, right tree.Expr, sc *scope) (expr.Expr, error) {
	l, err := boolean(left, sc, op)
	if err != nil {
		return nil, err
	}
	r, err := boolean(right, sc, op)
	if err != nil {
		return nil, err
	}
	return &expr.Call{Func: fn, Op: op, Infix: true, Args: []expr.Expr{l, r}, T: typBool}, nil
}

func nullTest(e tree.Expr, fn, op string, sc *scope) (expr.Expr, error) {
	arg, err := convert(e, sc)
	if err != nil {
		return nil, err
	}
	if isNull(arg.Type()) {
		arg = coerce(arg, typBool)
	}
	return &expr.Call{Func: fn, Op: op, Args: []expr.Expr{arg}, T: typBool}, nil
}

// unify finds one type for the values of CASE or COALESCE and converts
// them to it.
func unify(node tree.NodeFormatter, what string, vals []expr.Expr) ([]expr.Expr, arrow.DataType, error) {
	t := typNull
	for _, v := range vals {
		nt, ok := commonType(t, v.Type())
		if !ok {
			return nil, nil, errAt(node, "%s mixes %s and %s values", what, typeName(t), typeName(v.Type()))
		}
		t = nt
	}
	out := make([]expr.Expr, len(vals))
	for i, v := range vals {
		out[i] = coerce(v, t)
	}
	return out, t, nil
}

func caseExpr(x *tree.CaseExpr, sc *scope) (expr.Expr, error) {
	var operand expr.Expr
	if x.Expr != nil {
		var err error
		if operand, err = convert(x.Expr, sc); err != nil {
			return nil, err
		}
	}
	conds := make([]expr.Expr, len(x.Whens))
	vals := make([]expr.Expr, 0, len(x.Whens)+1)
	for i, w := range x.Whens {
		var err error
		if operand != nil {
			v, err := convert(w.Cond, sc)
			if err != nil {
				return nil, err
			}
			if conds[i], err = compare(w.Cond, "equal", "=", operand, v); err != nil {
				return nil, err
			}
		} else if conds[i], err = boolean(w.Cond, sc, "WHEN"); err != nil {
			return nil, err
		}
		v, err := convert(w.Val, sc)
		if err != nil {
			return nil, err
		}
		vals = append(vals, v)
	}
	if x.Else != nil {
		v, err := convert(x.Else, sc)
		if err != nil {
			return nil, err
		}
		vals = append(vals, v)
	}
	vals, t, err := unify(x, "CASE", vals)
	if err != nil {
		return nil, err
	}
	c := &expr.Case{T: t}
	for i := range x.Whens {
		c.Whens = append(c.Whens, expr.When{Cond: conds[i], Then: vals[i]})
	}
	if x.Else != nil {
		c.Else = vals[len(vals)-1]
	}
	return c, nil
}

func coalesce(node tree.Expr, args tree.Exprs, sc *scope) (expr.Expr, error) {
	if len(args) == 0 {
		return nil, errAt(node, "coalesce needs at least one argument")
	}
	vals := make([]expr.Expr, len(args))
	for i, a := range args {
		v, err := convert(a, sc)
		if err != nil {
			return nil, err
		}
		vals[i] = v
	}
	vals, t, err := unify(node, "coalesce", vals)
	if err != nil {
		return nil, err
	}
	return &expr.Coalesce{Args: vals, T: t}, nil
}

func cast(x *tree.CastExpr, sc *scope) (expr.Expr, error) {
	to, err := arrowType(x.Type)
	if err != nil {
		return nil, errAt(x, "%v", err)
	}
	arg, err := convert(x.Expr, sc)
	if err != nil {
		return nil, err
	}
	if !canCast(arg.Type(), to) {
		return nil, errAt(x, "cannot cast %s to %s", typeName(arg.Type()), typeName(to))
	}
	return coerce(arg, to), nil
}

func unary(x *tree.UnaryExpr, sc *scope) (expr.Expr, error) {
	arg, err := convert(x.Expr, sc)
	if err != nil {
		return nil, err
	}
	if isNull(arg.Type()) {
		return expr.NewLiteral(nil, typInt64), nil
	}
	switch x.Operator.Symbol {
	case tree.UnaryMinus, tree.UnaryPlus:
		if !isNumeric(arg.Type()) {
			return nil, errAt(x, "operator %s needs a number, got %s", x.Operator.String(), typeName(arg.Type()))
		}
		if x.Operator.Symbol == tree.UnaryPlus {
			return arg, nil
		}
		return &expr.Call{Func: "negate_unchecked", Op: "-", Infix: true, Args: []expr.Expr{arg}, T: arg.Type()}, nil
	}
	return nil, errAt(x, "operator %s is not supported", x.Operator.String())
}

func function(x *tree.FuncExpr, sc *scope) (expr.Expr, error) {
	var name string
	if ref, ok := x.Func.FunctionReference.(*tree.UnresolvedName); ok {
		name = strings.ToLower(ref.Parts[0])
	} else {
		name = strings.ToLower(x.Func.String())
	}
	switch {
	case aggregates[name]:
		return nil, &semError{msg: fmt.Sprintf("aggregate function '%s' is not supported yet", name), name: name}
	case name == "tumble" || name == "hop" || name == "session":
		return nil, &semError{msg: fmt.Sprintf("window function '%s' is not supported yet", name), name: name}
	case x.WindowDef != nil && name == "row_number":
		return nil, errAt(x, "ROW_NUMBER() OVER (...) is only supported as a whole item of the select list")
	case x.WindowDef != nil:
		return nil, &semError{msg: fmt.Sprintf("window function '%s' is not supported; only ROW_NUMBER() OVER (PARTITION BY window ORDER BY ...)", name), name: name}
	case x.Filter != nil || len(x.OrderBy) > 0 || x.Type != 0:
		return nil, errAt(x, "%s: DISTINCT, FILTER and ORDER BY in function calls are not supported", name)
	}
	for _, a := range x.Exprs {
		if _, star := a.(tree.UnqualifiedStar); star {
			return nil, errAt(x, "%s(*) is not supported", name)
		}
	}
	args := make([]expr.Expr, len(x.Exprs))
	for i, a := range x.Exprs {
		v, err := convert(a, sc)
		if err != nil {
			return nil, err
		}
		args[i] = v
	}
	arity := func(min, max int) error {
		if len(args) < min || len(args) > max {
			want := fmt.Sprint(min)
			if max != min {
				want = fmt.Sprintf("%d to %d", min, max)
			}
			return errAt(x, "function %s takes %s arguments, got %d", name, want, len(args))
		}
		return nil
	}
	text := func(i int) (expr.Expr, error) {
		switch t := args[i].Type(); {
		case t.ID() == arrow.STRING:
			return args[i], nil
		case isNull(t):
			return coerce(args[i], typText), nil
		default:
			return nil, errAt(x, "function %s needs TEXT, got %s", name, typeName(t))
		}
	}
	switch name {
	case "abs":
		if err := arity(1, 1); err != nil {
			return nil, err
		}
		if isNull(args[0].Type()) {
			return expr.NewLiteral(nil, typInt64), nil
		}
		if !isNumeric(args[0].Type()) {
			return nil, errAt(x, "function abs needs a number, got %s", typeName(args[0].Type()))
		}
		return &expr.Call{Func: "abs_unchecked", Op: "abs", Args: args, T: args[0].Type()}, nil
	case "lower", "upper", "length", "char_length", "character_length":
		if err := arity(1, 1); err != nil {
			return nil, err
		}
		a, err := text(0)
		if err != nil {
			return nil, err
		}
		if name != "lower" && name != "upper" {
			name = "length"
		}
		return &expr.StringFunc{Name: name, Args: []expr.Expr{a}}, nil
	case "concat":
		if len(args) == 0 {
			return nil, errAt(x, "function concat needs at least one argument")
		}
		for i, a := range args {
			args[i] = coerce(a, typText)
		}
		return &expr.StringFunc{Name: "concat", Args: args}, nil
	case "coalesce", "ifnull", "nvl":
		return coalesce(x, x.Exprs, sc)
	case "round":
		if err := arity(1, 2); err != nil {
			return nil, err
		}
		if isNull(args[0].Type()) {
			return expr.NewLiteral(nil, typFloat64), nil
		}
		if !isNumeric(args[0].Type()) {
			return nil, errAt(x, "function round needs a number, got %s", typeName(args[0].Type()))
		}
		var digits int64
		if len(args) == 2 {
			lit, ok := args[1].(*expr.Literal)
			if !ok || lit.Type().ID() != arrow.INT64 || !lit.Value.IsValid() {
				return nil, errAt(x, "the second argument of round must be an integer constant")
			}
			digits = lit.Value.(*scalar.Int64).Value
		}
		arg := args[0]
		if digits < 0 && !arrow.IsFloating(arg.Type().ID()) {
			arg = coerce(arg, typFloat64)
		}
		return &expr.Round{Arg: arg, Digits: digits}, nil
	}
	if e, ok, err := rowFunctionCall(x, name, args); ok {
		return e, err
	}
	return nil, &semError{msg: fmt.Sprintf("unknown function '%s'", name), name: name}
}
