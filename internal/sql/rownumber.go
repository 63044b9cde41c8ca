package sql

import (
	"fmt"
	"slices"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/scalar"
	"github.com/cockroachdb/cockroachdb-parser/pkg/sql/sem/tree"

	"github.com/runnel-dev/runnel/internal/connectors"
	"github.com/runnel-dev/runnel/internal/engine"
	"github.com/runnel-dev/runnel/internal/engine/expr"
)

const rowNumberCol = "__row_number"

// rowNumber plans ROW_NUMBER() OVER (PARTITION BY ... ORDER BY ...) in a
// select list: the input is partitioned by key, each partition (which must
// include a window column, so that it completes) is sorted and numbered.
// The call is replaced in items by a reference to the new column, which
// is added to sc.
func (p *planner) rowNumber(items []tree.Expr, sc *scope, at, par int) (int, int, error) {
	var call *tree.FuncExpr
	idx := -1
	for i, it := range items {
		f, ok := it.(*tree.FuncExpr)
		if !ok || f.WindowDef == nil {
			continue
		}
		name := strings.ToLower(f.Func.String())
		if name != "row_number" {
			return 0, 0, &semError{msg: fmt.Sprintf("window function '%s' is not supported; only ROW_NUMBER() OVER (PARTITION BY window ORDER BY ...)", name), name: name}
		}
		if call != nil {
			return 0, 0, errAt(f, "only one ROW_NUMBER() per query is supported")
		}
		call, idx = f, i
	}
	if call == nil {
		return at, par, nil
	}
	wd := call.WindowDef
	switch {
	case len(call.Exprs) > 0:
		return 0, 0, errAt(call, "ROW_NUMBER() takes no arguments")
	case wd.Frame != nil || wd.RefName != "" || wd.Name != "":
		return 0, 0, errAt(call, "ROW_NUMBER(): window frames and named windows are not supported")
	case len(wd.Partitions) == 0:
		return 0, 0, errAt(call, "ROW_NUMBER() needs PARTITION BY a window column (e.g. PARTITION BY window), so that each partition ends")
	}
	colOf := func(e tree.Expr, what string) (int, error) {
		x, err := convert(e, sc)
		if err != nil {
			return -1, err
		}
		c, ok := x.(*expr.Column)
		if !ok {
			return -1, errAt(e, "ROW_NUMBER(): %s must be a column, got %s", what, tree.AsString(e))
		}
		return c.Index, nil
	}
	var cfg engine.RowNumberConfig
	hasWindow := false
	for _, e := range wd.Partitions {
		c, err := colOf(e, "PARTITION BY")
		if err != nil {
			return 0, 0, err
		}
		hasWindow = hasWindow || arrow.TypeEqual(sc.cols[c].Type, engine.WindowType)
		cfg.Partition = append(cfg.Partition, c)
	}
	if !hasWindow {
		return 0, 0, errAt(call, "ROW_NUMBER() needs PARTITION BY a window column (from tumble, hop or session), so that each partition ends")
	}
	for _, o := range wd.OrderBy {
		if o.OrderType != tree.OrderByColumn {
			return 0, 0, errAt(call, "ROW_NUMBER(): ORDER BY INDEX is not supported")
		}
		c, err := colOf(o.Expr, "ORDER BY")
		if err != nil {
			return 0, 0, err
		}
		cfg.Order = append(cfg.Order, c)
		cfg.Desc = append(cfg.Desc, o.Direction == tree.Descending)
	}
	sc.cols = append(slices.Clone(sc.cols), connectors.Column{Name: rowNumberCol, Type: typInt64})
	cfg.Out = connectors.SchemaOf(sc.cols)
	items[idx] = colRef(rowNumberCol)
	// The operator reads its configuration when it is built, after
	// planning: a filter on the numbers found later may set a limit.
	cfgp := &cfg
	at = p.add(&lop{par: par, inputs: []int{at}, key: cfg.Partition, spec: engine.OperatorSpec{
		ID:          fmt.Sprintf("row_number_%d", len(p.lops)),
		Kind:        engine.KindTransform,
		Name:        "row_number",
		Description: tree.AsString(call),
		Schema:      cfg.Out,
		NewOperator: func(info engine.TaskInfo) (engine.Operator, error) { return engine.NewRowNumber(*cfgp)(info) },
	}})
	p.topN.last, p.topN.lastCol = cfgp, len(sc.cols)-1
	return at, par, nil
}

// topNPlan tracks where row numbers flow, to push a filter such as
// `row_num = 1` or `row_num <= N` on them into the ROW_NUMBER operator as
// a limit: the operator then keeps only the first N rows per partition
// instead of buffering all of them. The filter stays in place; the limit
// only drops rows it would drop.
type topNPlan struct {
	// last is the configuration of the ROW_NUMBER planned last (in the
	// select being planned), and lastCol its column in that select's scope.
	last    *engine.RowNumberConfig
	lastCol int
	// cols lists, per logical operator, its output columns that are a
	// ROW_NUMBER's numbers unchanged.
	cols map[int][]topNCol
}

type topNCol struct {
	col int
	cfg *engine.RowNumberConfig
}

// noteRowNumberOutputs records which of a select's output columns (of
// the relation at) are the row numbers of the ROW_NUMBER it planned.
func (p *planner) noteRowNumberOutputs(at int, outs []outCol) {
	rn := p.topN.last
	p.topN.last = nil
	if rn == nil {
		return
	}
	for i, o := range outs {
		if c, ok := o.e.(*expr.Column); ok && c.Index == p.topN.lastCol && c.Name == rowNumberCol {
			if p.topN.cols == nil {
				p.topN.cols = map[int][]topNCol{}
			}
			p.topN.cols[at] = append(p.topN.cols[at], topNCol{col: i, cfg: rn})
		}
	}
}

// pushTopN sets a limit on the ROW_NUMBER operators whose numbers reach
// the relation at as a column that where (a WHERE over that relation)
// requires to be at most N, in a conjunct `col = N`, `col <= N`,
// `col < N + 1` (either side).
func (p *planner) pushTopN(where expr.Expr, at int) {
	cols := p.topN.cols[at]
	if where == nil || len(cols) == 0 {
		return
	}
	var visit func(e expr.Expr)
	visit = func(e expr.Expr) {
		c, ok := e.(*expr.Call)
		if !ok || len(c.Args) != 2 {
			return
		}
		if c.Func == "and_kleene" || c.Func == "and" {
			visit(c.Args[0])
			visit(c.Args[1])
			return
		}
		fn := c.Func
		col, lcol := c.Args[0].(*expr.Column)
		lit, llit := c.Args[1].(*expr.Literal)
		if !lcol || !llit {
			col, lcol = c.Args[1].(*expr.Column)
			lit, llit = c.Args[0].(*expr.Literal)
			switch fn { // N >= col is col <= N
			case "greater_equal":
				fn = "less_equal"
			case "greater":
				fn = "less"
			case "equal":
			default:
				return
			}
		}
		if !lcol || !llit {
			return
		}
		v, ok := lit.Value.(*scalar.Int64)
		if !ok || !v.Valid {
			return
		}
		var limit int64
		switch fn {
		case "equal", "less_equal":
			limit = v.Value
		case "less":
			limit = v.Value - 1
		default:
			return
		}
		for _, tc := range cols {
			if tc.col != col.Index {
				continue
			}
			// A limit below 1 keeps nothing; leave those to the filter.
			if limit >= 1 && (tc.cfg.Limit <= 0 || limit < tc.cfg.Limit) {
				tc.cfg.Limit = limit
			}
		}
	}
	visit(where)
}
