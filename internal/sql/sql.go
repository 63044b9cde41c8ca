// Package sql plans Runnel's SQL dialect (Arroyo's, on a PostgreSQL
// grammar) into a physical dataflow: parse with CockroachDB's parser, check
// names and types, build a graph of operators, fuse stateless chains and
// return an engine.Program.
package sql

import (
	"strings"

	"github.com/runnel-dev/runnel/internal/connectors"
	// The planner resolves every built-in connector.
	_ "github.com/runnel-dev/runnel/internal/connectors/all"
	"github.com/runnel-dev/runnel/internal/engine"
)

// Options steer planning.
type Options struct {
	// Parallelism of every node (default 1).
	Parallelism int
	// Preview plans a preview pipeline: every sink is replaced by the
	// preview sink, unless EnableSinks, in which case a preview sink is
	// added beside each sink.
	Preview     bool
	EnableSinks bool
	// Connectors to resolve tables with (default: the built-in registry).
	Connectors *connectors.Registry
}

// Position is a place in the query text, 1-based. Column counts
// characters, not bytes.
type Position struct {
	Line   int `json:"line"`
	Column int `json:"column"`
}

// Span is a range of the query text; End is just past the last character.
type Span struct {
	Start Position `json:"start"`
	End   Position `json:"end"`
}

// Diagnostic is one problem in a query (Arroyo's SqlDiagnostic).
type Diagnostic struct {
	Message string `json:"message"`
	Span    *Span  `json:"span,omitempty"`
}

// Error is a query the planner rejects, with every problem found.
type Error struct {
	Diagnostics []Diagnostic
}

func (e *Error) Error() string {
	msgs := make([]string, len(e.Diagnostics))
	for i, d := range e.Diagnostics {
		msgs[i] = d.Message
	}
	return strings.Join(msgs, "; ")
}

// Plan compiles a query (one or more statements separated by ';') into a
// program. Problems with the query are returned as *Error.
func Plan(query string, opts Options) (*engine.Program, error) {
	if opts.Parallelism <= 0 {
		opts.Parallelism = 1
	}
	if opts.Connectors == nil {
		opts.Connectors = connectors.Default()
	}
	src, stmts, diags := split(query)
	if len(diags) > 0 {
		return nil, &Error{Diagnostics: diags}
	}
	p := &planner{opts: opts, src: src, tables: map[string]*table{}}
	return p.plan(stmts)
}
