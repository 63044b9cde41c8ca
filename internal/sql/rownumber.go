package sql

import (
	"fmt"
	"slices"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
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
	at = p.add(&lop{par: par, inputs: []int{at}, key: cfg.Partition, spec: engine.OperatorSpec{
		ID:          fmt.Sprintf("row_number_%d", len(p.lops)),
		Kind:        engine.KindTransform,
		Name:        "row_number",
		Description: tree.AsString(call),
		Schema:      cfg.Out,
		NewOperator: engine.NewRowNumber(cfg),
	}})
	return at, par, nil
}
