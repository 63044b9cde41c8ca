package sql

import (
	"fmt"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/cockroachdb/cockroachdb-parser/pkg/sql/parser"
	"github.com/cockroachdb/cockroachdb-parser/pkg/sql/sem/tree"
	"github.com/cockroachdb/cockroachdb-parser/pkg/sql/sem/tree/treebin"
	"github.com/cockroachdb/cockroachdb-parser/pkg/util/duration"

	"github.com/runnel-dev/runnel/internal/connectors"
	"github.com/runnel-dev/runnel/internal/engine"
	"github.com/runnel-dev/runnel/internal/engine/expr"
)

// DefaultWatermarkDelay is how far behind the largest event time seen a
// source's watermark trails when the table declares no WATERMARK.
const DefaultWatermarkDelay = int64(1_000_000) // 1 second, in µs

// intervalMicros reads a constant interval such as INTERVAL '5 seconds'.
func intervalMicros(e tree.Expr) (int64, error) {
	var s string
	switch x := e.(type) {
	case *tree.ParenExpr:
		return intervalMicros(x.Expr)
	case *tree.CastExpr:
		switch v := x.Expr.(type) {
		case *tree.StrVal:
			s = v.RawString()
		case *tree.DString:
			s = string(*v)
		default:
			return 0, errAt(e, "%s is not a constant interval", tree.AsString(e))
		}
		if !strings.Contains(strings.ToLower(x.Type.SQLString()), "interval") {
			return 0, errAt(e, "%s is not an interval", tree.AsString(e))
		}
	case *tree.DInterval:
		return durationMicros(e, x.Duration)
	case *tree.StrVal:
		s = x.RawString()
	default:
		return 0, errAt(e, "expected a constant interval such as INTERVAL '1 second', got %s", tree.AsString(e))
	}
	d, err := tree.ParseDInterval(duration.IntervalStyle_POSTGRES, s)
	if err != nil {
		return 0, errAt(e, "invalid interval '%s': %v", s, err)
	}
	return durationMicros(e, d.Duration)
}

func durationMicros(e tree.Expr, d duration.Duration) (int64, error) {
	if d.Months != 0 {
		return 0, errAt(e, "intervals of months or years are not supported in windows and watermarks (their length varies)")
	}
	us := d.Days*86_400_000_000 + d.Nanos()/1000
	return us, nil
}

// eventTime applies a table's WATERMARK clause or event-time options.
func (p *planner) eventTime(tbl *table, cols []connectors.Column, vals map[string]string) error {
	tbl.eventCol, tbl.delay = -1, DefaultWatermarkDelay
	colIndex := func(name string) (int, error) {
		for i, c := range cols {
			if c.Name == name {
				if !arrow.TypeEqual(c.Type, typTimestamp) {
					return -1, &semError{msg: fmt.Sprintf("event time column '%s' must be a TIMESTAMP, it is %s", name, typeName(c.Type)), name: name}
				}
				return i, nil
			}
		}
		return -1, &semError{msg: fmt.Sprintf("event time column '%s' is not a column of table '%s'", name, tbl.name), name: name}
	}
	if f, ok := vals["event_time_field"]; ok {
		delete(vals, "event_time_field")
		i, err := colIndex(f)
		if err != nil {
			return err
		}
		tbl.eventCol = i
	}
	if f, ok := vals["watermark_field"]; ok {
		delete(vals, "watermark_field")
		if _, err := colIndex(f); err != nil {
			return err
		}
		return &semError{msg: "option 'watermark_field' is not supported; use WATERMARK FOR col AS col - INTERVAL '...' or event_time_field", name: "watermark_field"}
	}
	for _, w := range p.st.watermarks {
		i, err := colIndex(w.column)
		if err != nil {
			return err
		}
		tbl.eventCol, tbl.delay = i, 0
		if w.expr == "" {
			continue
		}
		e, err := parser.ParseExpr(w.expr)
		if err != nil {
			return &semError{msg: fmt.Sprintf("WATERMARK FOR %s: %v", w.column, err), name: w.column}
		}
		bad := &semError{msg: fmt.Sprintf("WATERMARK FOR %s AS %s: the watermark must be %s or %s - INTERVAL '...'", w.column, w.expr, w.column, w.column), name: w.column}
		switch x := e.(type) {
		case *tree.UnresolvedName:
			if x.NumParts != 1 || x.Parts[0] != w.column {
				return bad
			}
		case *tree.BinaryExpr:
			n, ok := x.Left.(*tree.UnresolvedName)
			if !ok || n.NumParts != 1 || n.Parts[0] != w.column || x.Operator.Symbol != treebin.Minus {
				return bad
			}
			d, err := intervalMicros(x.Right)
			if err != nil || d < 0 {
				return bad
			}
			tbl.delay = d
		default:
			return bad
		}
	}
	return nil
}

// windowOf recognises tumble(), hop() and session() calls.
func windowOf(e tree.Expr) (*engine.WindowSpec, bool, error) {
	f, ok := e.(*tree.FuncExpr)
	if !ok {
		return nil, false, nil
	}
	ref, ok := f.Func.FunctionReference.(*tree.UnresolvedName)
	if !ok {
		return nil, false, nil
	}
	name := strings.ToLower(ref.Parts[0])
	var want int
	switch name {
	case "tumble", "session":
		want = 1
	case "hop":
		want = 2
	default:
		return nil, false, nil
	}
	if len(f.Exprs) != want {
		return nil, true, errAt(f, "%s takes %d interval argument(s), got %d", name, want, len(f.Exprs))
	}
	ds := make([]int64, want)
	for i, a := range f.Exprs {
		d, err := intervalMicros(a)
		if err != nil {
			return nil, true, err
		}
		if d <= 0 {
			return nil, true, errAt(a, "%s: the interval must be positive", name)
		}
		ds[i] = d
	}
	switch name {
	case "tumble":
		return &engine.WindowSpec{Kind: engine.Tumble, Width: ds[0]}, true, nil
	case "session":
		return &engine.WindowSpec{Kind: engine.Session, Gap: ds[0]}, true, nil
	}
	if ds[1]%ds[0] != 0 {
		return nil, true, errAt(f, "hop: the width (%s) must be a multiple of the slide (%s)", tree.AsString(f.Exprs[1]), tree.AsString(f.Exprs[0]))
	}
	return &engine.WindowSpec{Kind: engine.Hop, Slide: ds[0], Width: ds[1]}, true, nil
}

// hasAggregate reports whether an expression calls an aggregate function.
func hasAggregate(e tree.Expr) bool {
	found := false
	_, _ = tree.SimpleVisit(e, func(x tree.Expr) (bool, tree.Expr, error) {
		if f, ok := x.(*tree.FuncExpr); ok {
			if ref, ok := f.Func.FunctionReference.(*tree.UnresolvedName); ok && aggregates[strings.ToLower(ref.Parts[0])] && f.WindowDef == nil {
				found = true
				return false, x, nil
			}
		}
		return true, x, nil
	})
	return found
}

type aggKey struct {
	text string
	name string
	e    expr.Expr
}

type aggCall struct {
	text string
	spec engine.AggSpec
	arg  expr.Expr
	t    arrow.DataType
}

// aggQuery plans SELECT ... GROUP BY <window>, keys [HAVING ...].
func (p *planner) aggQuery(sc *tree.SelectClause, input *rel, in *scope, where expr.Expr, sink *table) (*rel, error) {
	aliases := map[string]tree.Expr{}
	for _, item := range sc.Exprs {
		if item.As != "" {
			aliases[string(item.As)] = item.Expr
		}
	}
	var win *engine.WindowSpec
	var winText string
	var givenWin *expr.Column
	winName := "window"
	var keys []aggKey
	for _, g := range sc.GroupBy {
		ge := g
		if n, ok := g.(*tree.UnresolvedName); ok && n.NumParts == 1 {
			if _, isCol := in.lookup(n.Parts[0]); !isCol {
				if a, ok := aliases[n.Parts[0]]; ok {
					ge = a
					if _, isWin, _ := windowOf(a); isWin {
						winName = n.Parts[0]
					}
				}
			}
		}
		if nv, ok := ge.(*tree.NumVal); ok {
			pos, err := nv.AsInt64()
			if err != nil || pos < 1 || int(pos) > len(sc.Exprs) {
				return nil, errAt(g, "GROUP BY position %s is not in the select list (1 to %d)", tree.AsString(g), len(sc.Exprs))
			}
			item := sc.Exprs[pos-1]
			if hasAggregate(item.Expr) {
				return nil, errAt(g, "GROUP BY %d refers to an aggregate", pos)
			}
			ge = item.Expr
			if _, isWin, _ := windowOf(ge); isWin && item.As != "" {
				winName = string(item.As)
			}
		}
		spec, isWin, err := windowOf(ge)
		if err != nil {
			return nil, err
		}
		if isWin {
			if win != nil {
				return nil, errAt(g, "GROUP BY can have only one window")
			}
			win, winText = spec, tree.AsString(ge)
			continue
		}
		if hasAggregate(ge) {
			return nil, errAt(g, "aggregate functions are not allowed in GROUP BY")
		}
		e, err := convert(ge, in)
		if err != nil {
			return nil, err
		}
		if c, ok := e.(*expr.Column); ok && arrow.TypeEqual(c.T, engine.WindowType) {
			// A window computed by an inner query: group by it as is.
			if win != nil {
				return nil, errAt(g, "GROUP BY can have only one window")
			}
			win, winText, winName, givenWin = &engine.WindowSpec{Kind: engine.Given}, tree.AsString(ge), c.Name, c
			continue
		}
		name := tree.AsString(ge)
		if c, ok := e.(*expr.Column); ok {
			name = c.Name
		} else if f, ok := e.(*expr.Field); ok {
			name = f.Name
		}
		if g != ge {
			name = tree.AsString(g)
			aliases["\x00"+name] = ge
		}
		keys = append(keys, aggKey{text: tree.AsString(ge), name: name, e: e})
	}
	// Without a window the aggregate is updating: its result changes as
	// rows arrive, so it emits a changelog (see engine.UpdatingAggConfig).
	updating := win == nil
	if input.updating && !updating {
		return nil, errAt(&sc.GroupBy, "window aggregates over an updating input (the result of an aggregate without a window) are not supported")
	}

	var aggs []aggCall
	nk := len(keys)
	keyIndex := func(text string) int {
		for i, k := range keys {
			if k.text == text {
				return i
			}
		}
		return -1
	}
	// rewrite replaces aggregates, keys and the window by references to
	// the aggregate's output columns.
	rewrite := func(e tree.Expr) (tree.Expr, error) {
		return tree.SimpleVisit(e, func(x tree.Expr) (bool, tree.Expr, error) {
			if n, ok := x.(*tree.UnresolvedName); ok && n.NumParts == 1 {
				if a, ok := aliases["\x00"+n.Parts[0]]; ok {
					x = a
				}
			}
			text := tree.AsString(x)
			if i := keyIndex(text); i >= 0 {
				return false, colRef(fmt.Sprintf("__key_%d", i)), nil
			}
			if _, isWin, _ := windowOf(x); isWin {
				if text != winText {
					return false, nil, errAt(x, "the window %s differs from the one in GROUP BY (%s)", text, winText)
				}
				return false, colRef(winName), nil
			}
			f, ok := x.(*tree.FuncExpr)
			if !ok {
				return true, x, nil
			}
			ref, ok := f.Func.FunctionReference.(*tree.UnresolvedName)
			if !ok || !aggregates[strings.ToLower(ref.Parts[0])] {
				return true, x, nil
			}
			for i, a := range aggs {
				if a.text == text {
					return false, colRef(fmt.Sprintf("__agg_%d", i)), nil
				}
			}
			a, err := p.aggregate(f, in)
			if err != nil {
				return false, nil, err
			}
			a.text = text
			aggs = append(aggs, a)
			return false, colRef(fmt.Sprintf("__agg_%d", len(aggs)-1)), nil
		})
	}
	type item struct {
		e    tree.Expr
		name string
		node tree.Expr
	}
	var items []item
	for _, it := range sc.Exprs {
		if _, star := isStar(it.Expr); star {
			return nil, errAt(&sc.Exprs, "SELECT * cannot be used with GROUP BY; list the keys and aggregates")
		}
		r, err := rewrite(it.Expr)
		if err != nil {
			return nil, err
		}
		name := string(it.As)
		if name == "" {
			if n, ok := it.Expr.(*tree.UnresolvedName); ok && !n.Star {
				name = n.Parts[0]
			} else if f, ok := it.Expr.(*tree.FuncExpr); ok {
				name = strings.ToLower(f.Func.String())
			} else {
				name = tree.AsString(it.Expr)
			}
		}
		items = append(items, item{e: r, name: name, node: it.Expr})
	}
	var having tree.Expr
	if sc.Having != nil {
		r, err := rewrite(sc.Having.Expr)
		if err != nil {
			return nil, err
		}
		having = r
	}

	// Columns after the aggregate: keys, window, aggregates.
	post := &scope{}
	for i, k := range keys {
		post.cols = append(post.cols, connectors.Column{Name: fmt.Sprintf("__key_%d", i), Type: k.e.Type(), Nullable: true})
	}
	if !updating {
		post.cols = append(post.cols, connectors.Column{Name: winName, Type: engine.WindowType, Nullable: false})
	}
	for i, a := range aggs {
		post.cols = append(post.cols, connectors.Column{Name: fmt.Sprintf("__agg_%d", i), Type: a.t, Nullable: true})
	}
	// A column of the input left after rewriting is neither grouped nor
	// aggregated.
	check := func(e tree.Expr, node tree.Expr) error {
		var bad error
		_, _ = tree.SimpleVisit(e, func(x tree.Expr) (bool, tree.Expr, error) {
			if n, ok := x.(*tree.UnresolvedName); ok && !n.Star && bad == nil {
				name := n.Parts[n.NumParts-1]
				if n.NumParts >= 2 && n.Parts[n.NumParts-1] == winName {
					return false, x, nil
				}
				if _, isPost := post.lookup(name); isPost {
					return false, x, nil
				}
				if _, isCol := in.lookup(name); isCol {
					bad = &semError{msg: fmt.Sprintf("column '%s' must appear in GROUP BY or be used in an aggregate function", name), name: name}
				}
			}
			return true, x, nil
		})
		return bad
	}
	outs := make([]outCol, 0, len(items))
	for _, it := range items {
		if err := check(it.e, it.node); err != nil {
			return nil, err
		}
		e, err := convert(it.e, post)
		if err != nil {
			return nil, err
		}
		outs = append(outs, outCol{name: it.name, e: e})
	}
	var havingExpr expr.Expr
	if having != nil {
		if err := check(having, sc.Having.Expr); err != nil {
			return nil, err
		}
		h, err := boolean(having, post, "HAVING")
		if err != nil {
			return nil, err
		}
		havingExpr = h
	}
	outs, err := p.checkOutputs(sc, outs, sink)
	if err != nil {
		return nil, err
	}

	// Graph: source -> watermarks -> [filter] -> pre-project =key=> window
	// aggregate -> [having] -> project -> sink.
	par := input.par
	at, schema := input.at, input.schema()
	var preCols []connectors.Column
	var preExprs []expr.Expr
	var descs []string
	for i, k := range keys {
		preCols = append(preCols, connectors.Column{Name: fmt.Sprintf("__key_%d", i), Type: k.e.Type(), Nullable: true})
		preExprs = append(preExprs, k.e)
		descs = append(descs, k.e.String())
	}
	aggSpecs := make([]engine.AggSpec, len(aggs))
	var aggDescs []string
	for i, a := range aggs {
		aggSpecs[i] = a.spec
		aggDescs = append(aggDescs, a.text)
		if a.arg == nil {
			continue
		}
		aggSpecs[i].Arg = len(preExprs)
		preCols = append(preCols, connectors.Column{Name: fmt.Sprintf("__arg_%d", i), Type: a.arg.Type(), Nullable: true})
		preExprs = append(preExprs, a.arg)
		descs = append(descs, a.arg.String())
	}
	retractIn := -1
	if input.updating {
		retractIn = len(preExprs)
		preCols = append(preCols, retractColumn)
		preExprs = append(preExprs, retractRef(input.cols))
		descs = append(descs, engine.RetractField)
	}
	if givenWin != nil {
		win.Column = len(preExprs)
		preCols = append(preCols, connectors.Column{Name: givenWin.Name, Type: engine.WindowType})
		preExprs = append(preExprs, givenWin)
		descs = append(descs, givenWin.Name)
	}
	preExprs = append(preExprs, &expr.Column{Index: schema.NumFields() - 1, Name: engine.TimestampField, T: typTimestamp})
	preSchema := connectors.SchemaOf(preCols)
	preSpec := engine.OperatorSpec{
		ID: fmt.Sprintf("project_%d", len(p.lops)), Kind: engine.KindTransform, Name: "project",
		Description: "SELECT " + strings.Join(descs, ", "), Schema: preSchema, NewOperator: engine.NewProject(preSchema, preExprs),
	}
	if where != nil {
		preSpec.ID = fmt.Sprintf("filter_project_%d", len(p.lops))
		preSpec.Name = "filter -> project"
		preSpec.Description = "WHERE " + where.String() + " -> " + preSpec.Description
		preSpec.NewOperator = engine.NewFilterProject(where, preSchema, preExprs)
	}
	at = p.add(&lop{par: par, inputs: []int{at}, spec: preSpec})
	keyIdx := make([]int, nk)
	for i := range keyIdx {
		keyIdx[i] = i
	}
	aggPar := par
	if nk == 0 {
		// Without keys every row of a window must meet in one subtask.
		aggPar = 1
	}
	keyDesc := ""
	if nk > 0 {
		kd := make([]string, nk)
		for i, k := range keys {
			kd[i] = k.name
		}
		keyDesc = " BY " + strings.Join(kd, ", ")
	}
	var outSchema *arrow.Schema
	if updating {
		// The result is a changelog: _retract travels with the rows
		// through HAVING and the projection to the sink.
		post.cols = append(post.cols, retractColumn)
		outs = append(outs, outCol{name: engine.RetractField, e: retractRef(post.cols)})
		outSchema = connectors.SchemaOf(post.cols)
		desc := strings.TrimPrefix(keyDesc, " ")
		if desc == "" {
			desc = "all rows"
		}
		at = p.add(&lop{par: aggPar, single: nk == 0, inputs: []int{at}, key: keyIdx, spec: engine.OperatorSpec{
			ID: fmt.Sprintf("updating_aggregate_%d", len(p.lops)), Kind: engine.KindTransform, Name: "updating aggregate",
			Description: desc + ": " + strings.Join(aggDescs, ", "), Schema: outSchema,
			NewOperator: engine.NewUpdatingAgg(engine.UpdatingAggConfig{Keys: keyIdx, Aggs: aggSpecs, Retract: retractIn, Out: outSchema}),
		}})
	} else {
		outSchema = connectors.SchemaOf(post.cols)
		at = p.add(&lop{par: aggPar, single: nk == 0, inputs: []int{at}, key: keyIdx, spec: engine.OperatorSpec{
			ID: fmt.Sprintf("window_aggregate_%d", len(p.lops)), Kind: engine.KindTransform, Name: "window aggregate",
			Description: winText + keyDesc + ": " + strings.Join(aggDescs, ", "), Schema: outSchema,
			NewOperator: engine.NewWindowAgg(engine.WindowAggConfig{Keys: keyIdx, Window: *win, Aggs: aggSpecs, Out: outSchema}),
		}})
	}
	schema = outSchema
	if havingExpr != nil {
		at = p.add(&lop{par: aggPar, single: nk == 0, inputs: []int{at}, spec: engine.OperatorSpec{
			ID: fmt.Sprintf("filter_%d", len(p.lops)), Kind: engine.KindTransform, Name: "filter",
			Description: "HAVING " + havingExpr.String(), Schema: schema, NewOperator: engine.NewFilter(havingExpr),
		}})
	}
	at, schema = p.addProject(at, aggPar, outs, post.cols, nil)
	cols := make([]connectors.Column, schema.NumFields()-1)
	for i := range cols {
		f := schema.Field(i)
		cols[i] = connectors.Column{Name: f.Name, Type: f.Type, Nullable: true}
	}
	return &rel{at: at, par: aggPar, cols: cols, updating: updating}, nil
}

func colRef(name string) *tree.UnresolvedName {
	return &tree.UnresolvedName{NumParts: 1, Parts: tree.NameParts{name}}
}

// aggregate type-checks one aggregate call over the input scope.
func (p *planner) aggregate(f *tree.FuncExpr, in *scope) (aggCall, error) {
	name := strings.ToLower(f.Func.FunctionReference.(*tree.UnresolvedName).Parts[0])
	if f.Filter != nil || len(f.OrderBy) > 0 {
		return aggCall{}, errAt(f, "%s: FILTER and ORDER BY in aggregates are not supported", name)
	}
	distinct := f.Type == tree.DistinctFuncType
	if name == "count" && len(f.Exprs) == 1 {
		if _, star := f.Exprs[0].(tree.UnqualifiedStar); star {
			if distinct {
				return aggCall{}, errAt(f, "count(DISTINCT *) is not supported")
			}
			return aggCall{spec: engine.AggSpec{Kind: engine.AggCountStar}, t: typInt64}, nil
		}
	}
	switch name {
	case "count", "sum", "avg", "min", "max":
	default:
		return aggCall{}, &semError{msg: fmt.Sprintf("aggregate function '%s' is not supported; use count, sum, avg, min or max", name), name: name}
	}
	if len(f.Exprs) != 1 {
		return aggCall{}, errAt(f, "%s takes one argument, got %d", name, len(f.Exprs))
	}
	if hasAggregate(f.Exprs[0]) {
		return aggCall{}, errAt(f, "aggregate calls cannot be nested")
	}
	arg, err := convert(f.Exprs[0], in)
	if err != nil {
		return aggCall{}, err
	}
	t := arg.Type()
	if distinct && name != "count" {
		return aggCall{}, errAt(f, "%s(DISTINCT ...) is not supported; only count(DISTINCT ...)", name)
	}
	switch t.ID() {
	case arrow.INT32, arrow.INT64:
		arg, t = coerce(arg, typInt64), typInt64
	case arrow.FLOAT32, arrow.FLOAT64:
		arg, t = coerce(arg, typFloat64), typFloat64
	case arrow.STRING, arrow.BOOL, arrow.TIMESTAMP:
		if name == "sum" || name == "avg" {
			return aggCall{}, errAt(f, "%s needs a number, got %s", name, typeName(t))
		}
	case arrow.NULL:
		arg, t = coerce(arg, typInt64), typInt64
	default:
		if name != "count" {
			return aggCall{}, errAt(f, "%s of %s is not supported", name, typeName(t))
		}
	}
	switch name {
	case "count":
		k := engine.AggCount
		if distinct {
			k = engine.AggCountDistinct
		}
		return aggCall{spec: engine.AggSpec{Kind: k}, arg: arg, t: typInt64}, nil
	case "sum":
		return aggCall{spec: engine.AggSpec{Kind: engine.AggSum}, arg: arg, t: t}, nil
	case "avg":
		return aggCall{spec: engine.AggSpec{Kind: engine.AggAvg}, arg: coerce(arg, typFloat64), t: typFloat64}, nil
	case "min":
		return aggCall{spec: engine.AggSpec{Kind: engine.AggMin}, arg: arg, t: t}, nil
	}
	return aggCall{spec: engine.AggSpec{Kind: engine.AggMax}, arg: arg, t: t}, nil
}
