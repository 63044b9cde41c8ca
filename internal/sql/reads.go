package sql

import (
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/cockroachdb/cockroachdb-parser/pkg/sql/lexbase"
	"github.com/cockroachdb/cockroachdb-parser/pkg/sql/scanner"

	"github.com/runnel-dev/runnel/internal/connectors"
	"github.com/runnel-dev/runnel/internal/engine"
)

// sourceFor is the source constructor of a table for the statement being
// planned: a connector that can skip what is not read gets what the
// statement's text may read.
func (p *planner) sourceFor(src *table) func(engine.TaskInfo) (engine.Source, error) {
	if src.t.NewSourceReading == nil || p.st == nil {
		return src.t.NewSource
	}
	var structs []string
	for _, c := range src.t.Columns {
		if c.Type.ID() == arrow.STRUCT {
			structs = append(structs, strings.ToLower(c.Name))
		}
	}
	r := tokenReads(p.st.tokens, structs)
	return src.t.NewSourceReading(r)
}

// tokenReads works out from a statement's tokens what it may read, by
// name and conservatively: any name that appears may be read, unless
// it only appears as an alias being defined (AS name) or, for a name
// after `s.` with s a struct column, as a field of s. A `*` that selects
// columns (SELECT *, t.*), or NATURAL joins, may read everything. A
// struct column is read whole when it appears other than as `s.field` or
// `s IS [NOT] NULL`; otherwise only the fields named anywhere are read.
func tokenReads(toks []scanner.InspectToken, structs []string) connectors.Reads {
	all := false
	isStruct := func(s string) bool {
		for _, x := range structs {
			if x == s {
				return true
			}
		}
		return false
	}
	name := func(i int) string {
		if i < 0 || i >= len(toks) {
			return ""
		}
		return strings.ToLower(toks[i].Str)
	}
	id := func(i int) int32 {
		if i < 0 || i >= len(toks) {
			return 0
		}
		return toks[i].ID
	}
	columns := map[string]bool{}  // names that may be columns read
	anywhere := map[string]bool{} // every name
	whole := map[string]bool{}    // struct columns read whole
	for i, t := range toks {
		switch {
		case t.ID == '*':
			switch id(i - 1) {
			case lexbase.IDENT, lexbase.ICONST, lexbase.FCONST, lexbase.SCONST, ')':
				// multiplication
			case '(':
				if id(i+1) != ')' {
					all = true
				}
			default:
				all = true
			}
			continue
		case t.ID == lexbase.NATURAL:
			all = true
			continue
		}
		n := strings.ToLower(t.Str)
		if n == "" {
			continue
		}
		anywhere[n] = true
		if id(i-1) == lexbase.AS {
			continue
		}
		if id(i-1) == '.' && isStruct(name(i-2)) {
			continue // a field of a struct column
		}
		columns[n] = true
		if isStruct(n) {
			switch {
			case id(i+1) == '.':
			case id(i+1) == lexbase.IS && id(i+2) == lexbase.NULL:
			case id(i+1) == lexbase.IS && id(i+2) == lexbase.NOT && id(i+3) == lexbase.NULL:
			default:
				whole[n] = true
			}
		}
	}
	return connectors.Reads{
		Column: func(c string) bool { return all || columns[strings.ToLower(c)] },
		Field: func(c, f string) bool {
			c = strings.ToLower(c)
			return all || whole[c] || anywhere[strings.ToLower(f)]
		},
	}
}
