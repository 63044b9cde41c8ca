package sql

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/cockroachdb/cockroachdb-parser/pkg/sql/lexbase"
	"github.com/cockroachdb/cockroachdb-parser/pkg/sql/scanner"
	"github.com/cockroachdb/cockroachdb-parser/pkg/sql/sem/tree"

	"github.com/runnel-dev/runnel/internal/connectors"
	"github.com/runnel-dev/runnel/internal/connectors/preview"
	"github.com/runnel-dev/runnel/internal/engine"
	"github.com/runnel-dev/runnel/internal/engine/expr"
)

// table is a table defined by CREATE TABLE.
type table struct {
	name      string
	connector string
	t         *connectors.Table
	// broken tables failed to be created; statements using them are not
	// reported again.
	broken bool
	// eventCol is the column holding event time (-1: the source's own
	// _timestamp); delay is how far the watermark trails it (µs).
	eventCol int
	delay    int64
}

// lop is an operator of the logical graph, before chains are fused.
type lop struct {
	spec   engine.OperatorSpec
	inputs []int
	par    int
	// single marks an operator whose rows must all meet in one subtask
	// (a keyless aggregate); rescaling never spreads it.
	single bool
	sink   bool
	// key, if set, hash-partitions the input by these columns.
	key []int
	// inputKeys, for operators with several inputs, is key per input.
	inputKeys [][]int
}

type planner struct {
	opts   Options
	src    *source
	tables map[string]*table
	diags  []Diagnostic
	st     *statement
	lops   []*lop
	// stateful is set for statements with windows or window functions:
	// their sources get watermark generators.
	stateful bool
	// sources maps a table to its source operator in this statement.
	sources map[string]int
	// topN pushes filters on ROW_NUMBER's numbers into the operator.
	topN topNPlan
}

func (p *planner) plan(stmts []*statement) (*engine.Program, error) {
	for _, st := range stmts {
		p.st = st
		p.stateful = false
		p.sources = map[string]int{}
		for _, t := range st.tokens {
			switch strings.ToLower(t.Str) {
			case "tumble", "hop", "session", "over", "join":
				p.stateful = p.stateful || t.ID != lexbase.SCONST
			}
		}
		var err error
		switch s := st.ast.(type) {
		case *tree.CreateTable:
			err = p.createTable(s)
		case *tree.Insert:
			err = p.insert(s)
		case *tree.Select:
			err = p.query(s, nil)
		default:
			err = fmt.Errorf("%s statements are not supported", st.ast.StatementTag())
		}
		if err != nil {
			p.report(err)
		}
	}
	if len(p.diags) > 0 {
		return nil, &Error{Diagnostics: p.diags}
	}
	if !p.hasSink() {
		return nil, &Error{Diagnostics: []Diagnostic{{
			Message: "the query has no INSERT INTO or SELECT statement, so there is nothing to run",
		}}}
	}
	if p.opts.Preview {
		if err := p.rewriteForPreview(); err != nil {
			return nil, err
		}
	}
	prog, err := p.build()
	if err != nil {
		return nil, fmt.Errorf("build dataflow: %w", err)
	}
	return prog, nil
}

func (p *planner) hasSink() bool {
	for _, l := range p.lops {
		if l.sink {
			return true
		}
	}
	return false
}

// report turns an error into a diagnostic placed in the current statement.
func (p *planner) report(err error) {
	var se *semError
	if !errors.As(err, &se) {
		p.diags = append(p.diags, Diagnostic{Message: err.Error(), Span: p.stmtSpan()})
		return
	}
	var sp *Span
	switch {
	case se.name != "":
		sp = p.findToken(func(t scanner.InspectToken) bool { return t.ID != lexbase.SCONST && t.Str == se.name })
	case se.str != "":
		sp = p.findToken(func(t scanner.InspectToken) bool { return t.ID == lexbase.SCONST && t.Str == se.str })
	case se.node != nil:
		sp = p.findNode(se.node)
	}
	if sp == nil {
		sp = p.stmtSpan()
	}
	p.diags = append(p.diags, Diagnostic{Message: se.msg, Span: sp})
}

func (p *planner) stmtSpan() *Span { return p.src.span(p.st.start, p.st.end) }

func (p *planner) findToken(match func(scanner.InspectToken) bool) *Span {
	for _, t := range p.st.tokens {
		if match(t) {
			return p.src.span(int(t.Start), int(t.End))
		}
	}
	return nil
}

// findNode locates an expression in the statement. The AST has no
// positions, so the expression is printed, lexed, and its tokens looked
// for in the statement's tokens (parentheses aside, as printing adds
// some).
func (p *planner) findNode(n tree.NodeFormatter) *Span {
	want := significant(scanner.Inspect(tree.AsString(n)))
	if len(want) == 0 {
		return nil
	}
	have := significant(p.st.tokens)
	same := func(a, b scanner.InspectToken) bool { return a.ID == b.ID && a.Str == b.Str }
	for i := 0; i+len(want) <= len(have); i++ {
		ok := true
		for j := range want {
			if !same(have[i+j], want[j]) {
				ok = false
				break
			}
		}
		if ok {
			return p.src.span(int(have[i].Start), int(have[i+len(want)-1].End))
		}
	}
	// Printing may spell things differently (INT8 for BIGINT): point at
	// the longest match of a prefix of the expression's tokens.
	best, bestLen := -1, 0
	for i := range have {
		k := 0
		for k < len(want) && i+k < len(have) && same(have[i+k], want[k]) {
			k++
		}
		if k > bestLen {
			best, bestLen = i, k
		}
	}
	if best < 0 {
		return nil
	}
	return p.src.span(int(have[best].Start), int(have[best+bestLen-1].End))
}

func significant(toks []scanner.InspectToken) []scanner.InspectToken {
	out := toks[:0:0]
	for _, t := range toks {
		if t.ID == '(' || t.ID == ')' || t.ID <= 0 || t.ID == lexbase.ERROR {
			continue
		}
		out = append(out, t)
	}
	return out
}

func (p *planner) createTable(ct *tree.CreateTable) error {
	name := ct.Table.Table()
	if ct.As() {
		return &semError{msg: "CREATE TABLE ... AS is not supported", name: name}
	}
	if prev, ok := p.tables[name]; ok {
		if ct.IfNotExists {
			return nil
		}
		if prev.broken {
			return nil
		}
		return &semError{msg: fmt.Sprintf("table '%s' is already defined", name), name: name}
	}
	broken := &table{name: name, broken: true}
	p.tables[name] = broken

	var cols []connectors.Column
	seen := map[string]bool{}
	for _, def := range ct.Defs {
		cd, ok := def.(*tree.ColumnTableDef)
		if !ok {
			return errAt(def, "table constraints and indexes are not supported")
		}
		col := string(cd.Name)
		switch {
		case cd.DefaultExpr.Expr != nil:
			return &semError{msg: fmt.Sprintf("column '%s': DEFAULT is not supported", col), name: col}
		case cd.Computed.Computed:
			return &semError{msg: fmt.Sprintf("column '%s': generated columns are not supported", col), name: col}
		case len(cd.CheckExprs) > 0 || cd.References.Table != nil:
			return &semError{msg: fmt.Sprintf("column '%s': CHECK and REFERENCES are not supported", col), name: col}
		case seen[col]:
			return &semError{msg: fmt.Sprintf("column '%s' is defined twice", col), name: col}
		}
		seen[col] = true
		t, err := arrowType(cd.Type)
		if err != nil {
			return &semError{msg: fmt.Sprintf("column '%s': %v", col, err), name: col}
		}
		cols = append(cols, connectors.Column{Name: col, Type: t, Nullable: cd.Nullable.Nullability != tree.NotNull})
	}

	vals := map[string]string{}
	for _, sp := range ct.StorageParams {
		key := strings.ToLower(string(sp.Key))
		if _, dup := vals[key]; dup {
			return &semError{msg: fmt.Sprintf("option '%s' is given twice", key), name: key}
		}
		v, ok := optionValue(sp.Value)
		if !ok {
			return errAt(sp.Value, "option '%s' must be a constant, got %s", key, tree.AsString(sp.Value))
		}
		vals[key] = v
	}
	evt := &table{name: name}
	if err := p.eventTime(evt, cols, vals); err != nil {
		return err
	}
	connID, ok := vals["connector"]
	if !ok {
		return &semError{
			msg:  fmt.Sprintf("table '%s' needs a connector, e.g. WITH (connector = 'impulse')", name),
			name: name,
		}
	}
	delete(vals, "connector")
	role, hasRole := vals["type"]
	delete(vals, "type")
	conn, ok := p.opts.Connectors.Lookup(connID)
	if !ok {
		return &semError{
			msg: fmt.Sprintf("unknown connector '%s'; available connectors: %s", connID, strings.Join(p.visibleConnectors(), ", ")),
			str: connID,
		}
	}
	opts := connectors.NewOptions(vals)
	tbl, err := conn.NewTable(connectors.TableSpec{Name: name, Columns: cols, Options: opts})
	if err != nil {
		var oe *connectors.OptionError
		if errors.As(err, &oe) {
			return &semError{msg: fmt.Sprintf("table '%s': %s", name, oe.Msg), name: oe.Key}
		}
		return &semError{msg: fmt.Sprintf("table '%s': %v", name, err), name: name}
	}
	if unused := opts.Unused(); len(unused) > 0 {
		return &semError{
			msg:  fmt.Sprintf("table '%s': unknown option '%s' for connector '%s'", name, unused[0], connID),
			name: unused[0],
		}
	}
	if hasRole {
		switch strings.ToLower(role) {
		case "source":
			if tbl.NewSource == nil {
				return &semError{msg: fmt.Sprintf("connector '%s' cannot be used as a source", connID), str: role}
			}
			tbl.NewSink = nil
		case "sink":
			if tbl.NewSink == nil {
				return &semError{msg: fmt.Sprintf("connector '%s' cannot be used as a sink", connID), str: role}
			}
			tbl.NewSource = nil
		default:
			return &semError{msg: fmt.Sprintf("option 'type' must be 'source' or 'sink', got '%s'", role), str: role}
		}
	}
	*broken = table{name: name, connector: connID, t: tbl, eventCol: evt.eventCol, delay: evt.delay}
	return nil
}

func (p *planner) visibleConnectors() []string {
	var ids []string
	for _, d := range p.opts.Connectors.List() {
		if !d.Hidden {
			ids = append(ids, d.ID)
		}
	}
	return ids
}

func optionValue(e tree.Expr) (string, bool) {
	switch v := e.(type) {
	case *tree.StrVal:
		return v.RawString(), true
	case *tree.NumVal:
		return tree.AsString(v), true
	case *tree.DBool:
		return fmt.Sprint(bool(*v)), true
	case *tree.UnresolvedName:
		if v.NumParts == 1 && !v.Star {
			return v.Parts[0], true
		}
	}
	return "", false
}

func (p *planner) insert(ins *tree.Insert) error {
	var name string
	switch t := ins.Table.(type) {
	case *tree.TableName:
		name = t.Table()
	case *tree.AliasedTableExpr:
		tn, ok := t.Expr.(*tree.TableName)
		if !ok {
			return errAt(ins.Table, "INSERT target must be a table")
		}
		name = tn.Table()
	default:
		return errAt(ins.Table, "INSERT target must be a table")
	}
	switch {
	case ins.With != nil:
		return errAt(ins.With, "WITH (common table expressions) is not supported")
	case len(ins.Columns) > 0:
		return &semError{msg: "INSERT with a column list is not supported; the query's columns go to the table's columns in order", name: string(ins.Columns[0])}
	case ins.OnConflict != nil:
		return fmt.Errorf("ON CONFLICT is not supported")
	case ins.Rows == nil || ins.Rows.Select == nil:
		return fmt.Errorf("INSERT needs a SELECT query")
	}
	if _, none := ins.Returning.(*tree.NoReturningClause); !none && ins.Returning != nil {
		return fmt.Errorf("RETURNING is not supported")
	}
	tbl, ok := p.tables[name]
	switch {
	case !ok:
		return &semError{msg: fmt.Sprintf("unknown table '%s'", name), name: name}
	case tbl.broken:
		return nil
	case tbl.t.NewSink == nil:
		return &semError{msg: fmt.Sprintf("cannot INSERT INTO '%s': connector '%s' is not a sink", name, tbl.connector), name: name}
	}
	return p.query(ins.Rows, tbl)
}

// outCol is one column of a query's result.
type outCol struct {
	name string
	e    expr.Expr
}

// rel is a planned relation: the logical operator producing it, its
// parallelism and its columns (_timestamp follows them in batches).
type rel struct {
	at, par int
	cols    []connectors.Column
	// updating relations are changelogs; their last column is
	// engine.RetractField (see updating.go).
	updating bool
}

func (r *rel) schema() *arrow.Schema { return connectors.SchemaOf(r.cols) }

// query plans a SELECT writing to sink, or to the preview sink if nil.
func (p *planner) query(sel *tree.Select, sink *table) error {
	r, err := p.selectRel(sel, sink)
	if err != nil || r == nil {
		return err
	}
	if err := checkUpdatingSink(r, sink); err != nil {
		return err
	}
	p.addSink(r.at, r.par, r.schema(), sink)
	return nil
}

// selectRel plans a SELECT; its output columns are coerced to sink's if
// given. A nil relation without error means a broken table was read
// (already reported).
func (p *planner) selectRel(sel *tree.Select, sink *table) (*rel, error) {
	switch {
	case sel.With != nil:
		return nil, errAt(sel.With, "WITH (common table expressions) is not supported")
	case len(sel.OrderBy) > 0:
		return nil, errAt(&sel.OrderBy, "ORDER BY is not supported on streams; use ROW_NUMBER() OVER (PARTITION BY window ORDER BY ...) for top-N per window")
	case sel.Limit != nil:
		return nil, errAt(sel.Limit, "LIMIT is not supported on streams")
	case len(sel.Locking) > 0:
		return nil, fmt.Errorf("FOR UPDATE/SHARE is not supported")
	}
	body := sel.Select
	for {
		ps, ok := body.(*tree.ParenSelect)
		if !ok {
			break
		}
		if ps.Select.With != nil || len(ps.Select.OrderBy) > 0 || ps.Select.Limit != nil {
			return nil, fmt.Errorf("WITH, ORDER BY and LIMIT are not supported")
		}
		body = ps.Select.Select
	}
	var sc *tree.SelectClause
	switch b := body.(type) {
	case *tree.SelectClause:
		sc = b
	case *tree.UnionClause:
		return nil, fmt.Errorf("%s is not supported yet", b.Type)
	case *tree.ValuesClause:
		return nil, errAt(b, "VALUES is not supported; read from a table")
	default:
		return nil, fmt.Errorf("this kind of query is not supported")
	}
	switch {
	case sc.Distinct || len(sc.DistinctOn) > 0:
		return nil, fmt.Errorf("SELECT DISTINCT is not supported; use GROUP BY with a window")
	case len(sc.Window) > 0:
		return nil, fmt.Errorf("WINDOW clauses are not supported")
	case sc.From.AsOf.Expr != nil:
		return nil, fmt.Errorf("AS OF SYSTEM TIME is not supported")
	case len(sc.From.Tables) == 0:
		return nil, fmt.Errorf("SELECT needs a FROM clause naming a source table")
	case len(sc.From.Tables) > 1:
		return nil, errAt(&sc.From, "comma-separated FROM lists (implicit cross joins) are not supported; use JOIN ... ON")
	}
	in, scope, err := p.fromItem(sc.From.Tables[0])
	if err != nil || in == nil {
		return nil, err
	}
	name, alias := scope.tableName, scope.alias

	var where expr.Expr
	if sc.Where != nil {
		w, err := boolean(sc.Where.Expr, scope, "WHERE")
		if err != nil {
			return nil, err
		}
		where = w
	}
	p.pushTopN(where, in.at)

	grouped := len(sc.GroupBy) > 0 || sc.Having != nil
	for _, item := range sc.Exprs {
		grouped = grouped || hasAggregate(item.Expr)
	}
	if grouped {
		return p.aggQuery(sc, in, scope, where, sink)
	}

	at, par := in.at, in.par
	hasRowNumber := false
	for _, item := range sc.Exprs {
		if f, ok := item.Expr.(*tree.FuncExpr); ok && f.WindowDef != nil {
			hasRowNumber = true
		}
	}
	addFilter := func() {
		at = p.add(&lop{par: par, inputs: []int{at}, spec: engine.OperatorSpec{
			ID:          fmt.Sprintf("filter_%d", len(p.lops)),
			Kind:        engine.KindTransform,
			Name:        "filter",
			Description: "WHERE " + where.String(),
			Schema:      in.schema(),
			NewOperator: engine.NewFilter(where),
		}})
		where = nil
	}
	if hasRowNumber {
		if err := notUpdating(in, "ROW_NUMBER()"); err != nil {
			return nil, err
		}
	}
	if where != nil && hasRowNumber {
		addFilter()
	}
	items := make([]tree.Expr, len(sc.Exprs))
	for i, item := range sc.Exprs {
		items[i] = item.Expr
	}
	at, par, err = p.rowNumber(items, scope, at, par)
	if err != nil {
		return nil, err
	}

	var outs []outCol
	for i, item := range sc.Exprs {
		if star, ok := isStar(item.Expr); ok {
			lo, hi := 0, len(in.cols)
			if sp, ok := scope.part(star); ok {
				lo, hi = sp.off, sp.off+sp.n
			} else if star != "" && star != name && star != alias {
				return nil, &semError{msg: fmt.Sprintf("unknown table '%s' in %s.*", star, star), name: star}
			}
			for i := lo; i < hi; i++ {
				c := in.cols[i]
				if in.updating && i == len(in.cols)-1 {
					continue // the changelog flag is added back below
				}
				outs = append(outs, outCol{name: c.Name, e: &expr.Column{Index: i, Name: c.Name, T: c.Type}})
			}
			continue
		}
		e, err := convert(items[i], scope)
		if err != nil {
			return nil, err
		}
		outName := string(item.As)
		if outName == "" {
			switch x := e.(type) {
			case *expr.Column:
				outName = x.Name
			case *expr.Field:
				outName = x.Name
			default:
				outName = tree.AsString(item.Expr)
			}
		}
		outs = append(outs, outCol{name: outName, e: e})
	}
	outs, err = p.checkOutputs(sc, outs, sink)
	if err != nil {
		return nil, err
	}
	if in.updating {
		for _, o := range outs {
			if o.name == engine.RetractField {
				return nil, &semError{msg: fmt.Sprintf("'%s' is reserved for the changelog flag of updating queries; rename the column", engine.RetractField), name: engine.RetractField}
			}
		}
		outs = append(outs, outCol{name: engine.RetractField, e: retractRef(scope.cols)})
	}
	if isIdentity(outs, scope.cols) {
		if where != nil {
			addFilter()
		}
		if hasRowNumber {
			p.noteRowNumberOutputs(at, outs)
		}
		return &rel{at: at, par: par, cols: scope.cols, updating: in.updating}, nil
	}
	at, schema := p.addProject(at, par, outs, scope.cols, where)
	if hasRowNumber {
		p.noteRowNumberOutputs(at, outs)
	}
	cols := make([]connectors.Column, schema.NumFields()-1)
	for i := range cols {
		f := schema.Field(i)
		cols[i] = connectors.Column{Name: f.Name, Type: f.Type, Nullable: true}
	}
	return &rel{at: at, par: par, cols: cols, updating: in.updating}, nil
}

// checkOutputs checks a query's output columns against each other and
// against the sink's columns, coercing them to the sink's types.
func (p *planner) checkOutputs(sc *tree.SelectClause, outs []outCol, sink *table) ([]outCol, error) {
	seen := map[string]bool{}
	for _, o := range outs {
		if seen[o.name] {
			return nil, &semError{msg: fmt.Sprintf("the query has two columns named '%s'; give one an alias with AS", o.name), name: o.name}
		}
		seen[o.name] = true
	}
	if sink != nil && len(sink.t.Columns) > 0 {
		want := sink.t.Columns
		if len(want) != len(outs) {
			return nil, &semError{
				msg:  fmt.Sprintf("table '%s' has %d columns but the query produces %d", sink.name, len(want), len(outs)),
				name: sink.name,
			}
		}
		for i, w := range want {
			got := outs[i].e.Type()
			if t, ok := commonType(got, w.Type); !ok || !arrow.TypeEqual(t, w.Type) {
				return nil, errAt(sc.Exprs[min(i, len(sc.Exprs)-1)].Expr, "column %d of the query (%s) is %s, but %s.%s is %s",
					i+1, outs[i].name, typeName(got), sink.name, w.Name, typeName(w.Type))
			}
			outs[i] = outCol{name: w.Name, e: coerce(outs[i].e, w.Type)}
		}
	}
	return outs, nil
}

// isStar reports whether a select item is * or t.*, and the qualifier.
func isStar(e tree.Expr) (string, bool) {
	switch x := e.(type) {
	case tree.UnqualifiedStar:
		return "", true
	case *tree.UnresolvedName:
		if x.Star {
			if x.NumParts >= 2 {
				return x.Parts[1], true
			}
			return "", true
		}
	case *tree.AllColumnsSelector:
		return x.TableName.Parts[0], true
	}
	return "", false
}

// addSource adds a source, the event-time column's copy into _timestamp
// if the table names one, and a watermark generator if asked for.
func (p *planner) addSource(src *table, watermarks bool) (int, *arrow.Schema) {
	par := p.opts.Parallelism
	srcSchema := connectors.SchemaOf(src.t.Columns)
	at := p.add(&lop{par: par, spec: engine.OperatorSpec{
		ID:          fmt.Sprintf("source_%s_%d", src.connector, len(p.lops)),
		Kind:        engine.KindSource,
		Name:        src.connector + " source",
		Description: src.t.Description,
		Schema:      srcSchema,
		NewSource:   p.sourceFor(src),
	}})
	if src.eventCol >= 0 {
		exprs := make([]expr.Expr, 0, len(src.t.Columns)+1)
		for i, c := range src.t.Columns {
			exprs = append(exprs, &expr.Column{Index: i, Name: c.Name, T: c.Type})
		}
		c := src.t.Columns[src.eventCol]
		exprs = append(exprs, &expr.Coalesce{Args: []expr.Expr{
			&expr.Column{Index: src.eventCol, Name: c.Name, T: c.Type},
			&expr.Column{Index: len(src.t.Columns), Name: engine.TimestampField, T: typTimestamp},
		}, T: typTimestamp})
		at = p.add(&lop{par: par, inputs: []int{at}, spec: engine.OperatorSpec{
			ID:          fmt.Sprintf("event_time_%d", len(p.lops)),
			Kind:        engine.KindTransform,
			Name:        "event time",
			Description: "_timestamp = " + c.Name,
			Schema:      srcSchema,
			NewOperator: engine.NewProject(srcSchema, exprs),
		}})
	}
	if watermarks {
		col := engine.TimestampField
		if src.eventCol >= 0 {
			col = src.t.Columns[src.eventCol].Name
		}
		at = p.add(&lop{par: par, inputs: []int{at}, spec: engine.OperatorSpec{
			ID:          fmt.Sprintf("watermark_%d", len(p.lops)),
			Kind:        engine.KindTransform,
			Name:        "watermark",
			Description: fmt.Sprintf("WATERMARK FOR %s AS %s - %s", col, col, time.Duration(src.delay*1000)),
			Schema:      srcSchema,
			NewOperator: engine.NewWatermarkGen(src.delay),
		}})
	}
	return at, srcSchema
}

// addProject computes outs (over input columns in) plus _timestamp.
func (p *planner) addProject(at, par int, outs []outCol, in []connectors.Column, where expr.Expr) (int, *arrow.Schema) {
	cols := make([]connectors.Column, len(outs))
	exprs := make([]expr.Expr, 0, len(outs)+1)
	descs := make([]string, len(outs))
	for i, o := range outs {
		cols[i] = connectors.Column{Name: o.name, Type: o.e.Type(), Nullable: true}
		exprs = append(exprs, o.e)
		descs[i] = o.e.String()
		if c, ok := o.e.(*expr.Column); !ok || c.Name != o.name {
			descs[i] += " AS " + o.name
		}
	}
	exprs = append(exprs, &expr.Column{Index: len(in), Name: engine.TimestampField, T: typTimestamp})
	schema := connectors.SchemaOf(cols)
	spec := engine.OperatorSpec{
		ID:          fmt.Sprintf("project_%d", len(p.lops)),
		Kind:        engine.KindTransform,
		Name:        "project",
		Description: "SELECT " + strings.Join(descs, ", "),
		Schema:      schema,
		NewOperator: engine.NewProject(schema, exprs),
	}
	if where != nil {
		// One pass: project every row, then keep those matching WHERE.
		spec.ID = fmt.Sprintf("filter_project_%d", len(p.lops))
		spec.Name = "filter -> project"
		spec.Description = "WHERE " + where.String() + " -> " + spec.Description
		spec.NewOperator = engine.NewFilterProject(where, schema, exprs)
	}
	at = p.add(&lop{par: par, inputs: []int{at}, spec: spec})
	return at, schema
}

// addSink ends the pipeline at sink, or at the preview sink if nil.
func (p *planner) addSink(at, par int, schema *arrow.Schema, sink *table) {
	n := len(p.lops)
	var spec engine.OperatorSpec
	if sink == nil {
		spec = p.previewSpec(fmt.Sprintf("sink_preview_%d", n), schema)
	} else {
		spec = engine.OperatorSpec{
			ID:          fmt.Sprintf("sink_%s_%d", sink.connector, n),
			Kind:        engine.KindSink,
			Name:        sink.connector + " sink",
			Description: sink.t.Description,
			Schema:      schema,
			Preview:     sink.t.Preview,
			NewOperator: sink.t.NewSink(schema),
		}
		if sink.t.Preview {
			spec.Name = "preview sink"
		}
	}
	p.add(&lop{par: par, inputs: []int{at}, sink: true, spec: spec})
}

func isIdentity(outs []outCol, cols []connectors.Column) bool {
	if len(outs) != len(cols) {
		return false
	}
	for i, o := range outs {
		c, ok := o.e.(*expr.Column)
		if !ok || c.Index != i || o.name != cols[i].Name {
			return false
		}
	}
	return true
}

func (p *planner) add(l *lop) int {
	p.lops = append(p.lops, l)
	return len(p.lops) - 1
}

func (p *planner) previewSpec(id string, schema *arrow.Schema) engine.OperatorSpec {
	spec := engine.OperatorSpec{
		ID:          id,
		Kind:        engine.KindSink,
		Name:        "preview sink",
		Description: "Preview sink",
		Schema:      schema,
		Preview:     true,
	}
	conn, ok := p.opts.Connectors.Lookup(preview.ID)
	if ok {
		if tbl, err := conn.NewTable(connectors.TableSpec{Name: "preview", Options: connectors.NewOptions(nil)}); err == nil && tbl.NewSink != nil {
			spec.NewOperator = tbl.NewSink(schema)
		}
	}
	return spec
}

// rewriteForPreview sends a preview pipeline's results to the preview
// sink: in place of every other sink, or beside it with EnableSinks.
func (p *planner) rewriteForPreview() error {
	if _, ok := p.opts.Connectors.Lookup(preview.ID); !ok {
		return fmt.Errorf("the preview connector is not registered")
	}
	n := len(p.lops)
	for i := 0; i < n; i++ {
		l := p.lops[i]
		if !l.sink || l.spec.Preview {
			continue
		}
		if !p.opts.EnableSinks {
			id := "sink_preview_" + l.spec.ID[strings.LastIndexByte(l.spec.ID, '_')+1:]
			l.spec = p.previewSpec(id, l.spec.Schema)
			continue
		}
		p.add(&lop{par: 1, inputs: l.inputs, sink: true, spec: p.previewSpec(l.spec.ID+"_1", l.spec.Schema)})
	}
	return nil
}

// build fuses chains and assigns node ids. An operator joins its input's
// chain when it is that input's only consumer, has no other input and runs
// at the same parallelism: then batches pass by function call, not queue.
func (p *planner) build() (*engine.Program, error) {
	consumers := make([][]int, len(p.lops))
	for i, l := range p.lops {
		for _, in := range l.inputs {
			consumers[in] = append(consumers[in], i)
		}
	}
	fused := func(i int) bool {
		l := p.lops[i]
		if len(l.inputs) != 1 || l.spec.Kind == engine.KindSource || l.key != nil {
			return false
		}
		in := l.inputs[0]
		return len(consumers[in]) == 1 && p.lops[in].par == l.par
	}
	nodeOf := make([]int, len(p.lops))
	var nodes []*engine.Node
	for i := range p.lops {
		if fused(i) {
			continue
		}
		n := &engine.Node{ID: len(nodes) + 1, Parallelism: p.lops[i].par, Single: p.lops[i].single}
		for j := i; ; {
			n.Chain = append(n.Chain, p.lops[j].spec)
			nodeOf[j] = n.ID
			if len(consumers[j]) != 1 || !fused(consumers[j][0]) {
				break
			}
			j = consumers[j][0]
		}
		nodes = append(nodes, n)
	}
	var edges []engine.Edge
	for i, l := range p.lops {
		if fused(i) {
			continue
		}
		for k, in := range l.inputs {
			key := l.key
			if l.inputKeys != nil {
				key = l.inputKeys[k]
			}
			t := engine.Forward
			if p.lops[in].par != l.par || key != nil {
				t = engine.Shuffle
			}
			edges = append(edges, engine.Edge{Src: nodeOf[in], Dest: nodeOf[i], Type: t, Schema: p.lops[in].spec.Schema, Key: key})
		}
	}
	return engine.NewProgram(nodes, edges)
}
