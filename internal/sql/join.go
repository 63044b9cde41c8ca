package sql

import (
	"fmt"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/cockroachdb/cockroachdb-parser/pkg/sql/sem/tree"
	"github.com/cockroachdb/cockroachdb-parser/pkg/sql/sem/tree/treecmp"

	"github.com/runnel-dev/runnel/internal/connectors"
	"github.com/runnel-dev/runnel/internal/engine"
	"github.com/runnel-dev/runnel/internal/engine/expr"
)

// DefaultJoinTTL is how long (µs of event time behind the watermark) an
// unwindowed join keeps rows waiting for a match.
const DefaultJoinTTL = int64(24 * 3600 * 1_000_000)

// fromItem plans one item of FROM: a table, a subquery or a join. A nil
// relation without error means a broken table (already reported).
func (p *planner) fromItem(te tree.TableExpr) (*rel, *scope, error) {
	switch t := te.(type) {
	case *tree.AliasedTableExpr:
		if t.Ordinality || t.IndexFlags != nil || len(t.As.Cols) > 0 {
			return nil, nil, errAt(t, "FROM %s: column aliases, index hints and WITH ORDINALITY are not supported", tree.AsString(t))
		}
		alias := string(t.As.Alias)
		switch x := t.Expr.(type) {
		case *tree.TableName:
			r, err := p.tableRel(x.Table())
			if err != nil || r == nil {
				return nil, nil, err
			}
			return r, &scope{tableName: x.Table(), alias: alias, cols: r.cols}, nil
		case *tree.Subquery:
			r, err := p.selectRel(&tree.Select{Select: x.Select}, nil)
			if err != nil || r == nil {
				return nil, nil, err
			}
			return r, &scope{tableName: alias, alias: alias, cols: r.cols}, nil
		}
		return nil, nil, errAt(t.Expr, "only tables and subqueries can be read in FROM; %s is not supported", tree.AsString(t.Expr))
	case *tree.TableName:
		r, err := p.tableRel(t.Table())
		if err != nil || r == nil {
			return nil, nil, err
		}
		return r, &scope{tableName: t.Table(), cols: r.cols}, nil
	case *tree.ParenTableExpr:
		return p.fromItem(t.Expr)
	case *tree.JoinTableExpr:
		return p.join(t)
	}
	return nil, nil, errAt(te, "FROM %s is not supported", tree.AsString(te))
}

func (p *planner) tableRel(name string) (*rel, error) {
	src, ok := p.tables[name]
	switch {
	case !ok:
		return nil, &semError{msg: fmt.Sprintf("unknown table '%s'", name), name: name}
	case src.broken:
		return nil, nil
	case src.t.NewSource == nil:
		return nil, &semError{msg: fmt.Sprintf("cannot read from '%s': connector '%s' is not a source", name, src.connector), name: name}
	}
	// A table read several times in a statement is read once and fanned
	// out to each use.
	at, ok := p.sources[name]
	if !ok {
		at, _ = p.addSource(src, p.stateful)
		p.sources[name] = at
	}
	return &rel{at: at, par: p.opts.Parallelism, cols: src.t.Columns}, nil
}

func partsOf(sc *scope, off int) []scopePart {
	if len(sc.parts) == 0 {
		return []scopePart{{name: sc.tableName, alias: sc.alias, off: off, n: len(sc.cols)}}
	}
	out := make([]scopePart, len(sc.parts))
	for i, sp := range sc.parts {
		sp.off += off
		out[i] = sp
	}
	return out
}

// join plans an inner equi-join.
func (p *planner) join(t *tree.JoinTableExpr) (*rel, *scope, error) {
	switch strings.ToUpper(t.JoinType) {
	case "", "INNER":
	default:
		return nil, nil, errAt(t, "%s JOIN is not supported; only inner joins", strings.ToUpper(t.JoinType))
	}
	on, ok := t.Cond.(*tree.OnJoinCond)
	if !ok {
		return nil, nil, errAt(t, "joins need an ON condition (NATURAL, USING and cross joins are not supported)")
	}
	left, lsc, err := p.fromItem(t.Left)
	if err != nil || left == nil {
		return nil, nil, err
	}
	right, rsc, err := p.fromItem(t.Right)
	if err != nil || right == nil {
		return nil, nil, err
	}
	for _, side := range []*rel{left, right} {
		if err := notUpdating(side, "a join"); err != nil {
			return nil, nil, errAt(t, "%v", err)
		}
	}
	nl := len(left.cols)
	sc := &scope{cols: append(append([]connectors.Column{}, left.cols...), right.cols...)}
	sc.parts = append(partsOf(lsc, 0), partsOf(rsc, nl)...)

	var conj []tree.Expr
	var split func(e tree.Expr)
	split = func(e tree.Expr) {
		switch x := e.(type) {
		case *tree.AndExpr:
			split(x.Left)
			split(x.Right)
		case *tree.ParenExpr:
			split(x.Expr)
		default:
			conj = append(conj, e)
		}
	}
	split(on.Expr)
	var lk, rk []int
	var rest []tree.Expr
	windowed := false
	for _, c := range conj {
		cmp, ok := c.(*tree.ComparisonExpr)
		if ok && cmp.Operator.Symbol == treecmp.EQ {
			a, err := convert(cmp.Left, sc)
			if err != nil {
				return nil, nil, err
			}
			b, err := convert(cmp.Right, sc)
			if err != nil {
				return nil, nil, err
			}
			ac, ok1 := a.(*expr.Column)
			bc, ok2 := b.(*expr.Column)
			if ok1 && ok2 && (ac.Index < nl) != (bc.Index < nl) {
				if bc.Index < nl {
					ac, bc = bc, ac
				}
				if !arrow.TypeEqual(ac.T, bc.T) {
					return nil, nil, errAt(c, "join keys %s and %s have different types (%s and %s)", ac.Name, bc.Name, typeName(ac.T), typeName(bc.T))
				}
				windowed = windowed || arrow.TypeEqual(ac.T, engine.WindowType)
				lk = append(lk, ac.Index)
				rk = append(rk, bc.Index-nl)
				continue
			}
		}
		rest = append(rest, c)
	}
	if len(lk) == 0 {
		return nil, nil, errAt(on.Expr, "a join needs at least one equality between columns of its two sides (ON a.x = b.y)")
	}
	ttl := DefaultJoinTTL
	kind := "join"
	if windowed {
		ttl, kind = 0, "window join"
	}
	out := connectors.SchemaOf(sc.cols)
	descs := make([]string, len(lk))
	for i := range lk {
		descs[i] = sc.cols[lk[i]].Name + " = " + sc.cols[nl+rk[i]].Name
	}
	par := p.opts.Parallelism
	at := p.add(&lop{par: par, inputs: []int{left.at, right.at}, inputKeys: [][]int{lk, rk}, spec: engine.OperatorSpec{
		ID:          fmt.Sprintf("join_%d", len(p.lops)),
		Kind:        engine.KindTransform,
		Name:        kind,
		Description: "INNER JOIN ON " + strings.Join(descs, " AND "),
		Schema:      out,
		NewOperator: engine.NewJoin(engine.JoinConfig{LeftKey: lk, RightKey: rk, TTL: ttl, Out: out, LeftColumns: nl}),
	}})
	if len(rest) > 0 {
		var cond tree.Expr = rest[0]
		for _, r := range rest[1:] {
			cond = &tree.AndExpr{Left: cond, Right: r}
		}
		f, err := boolean(cond, sc, "ON")
		if err != nil {
			return nil, nil, err
		}
		at = p.add(&lop{par: par, inputs: []int{at}, spec: engine.OperatorSpec{
			ID:          fmt.Sprintf("filter_%d", len(p.lops)),
			Kind:        engine.KindTransform,
			Name:        "filter",
			Description: "ON " + f.String(),
			Schema:      out,
			NewOperator: engine.NewFilter(f),
		}})
	}
	return &rel{at: at, par: par, cols: sc.cols}, sc, nil
}
