package api

import (
	"context"
	"errors"

	"github.com/runnel-dev/runnel/internal/connectors"
	"github.com/runnel-dev/runnel/internal/sql"
)

// SQLPlanner plans with Runnel's SQL planner, resolving tables against reg
// (nil: the built-in registry), and reports problems in the query as
// *PlanError.
func SQLPlanner(reg *connectors.Registry) Planner {
	return func(_ context.Context, query string, opts PlanOptions) (Program, error) {
		prog, err := sql.Plan(query, sql.Options{
			Parallelism: opts.Parallelism,
			Preview:     opts.Preview,
			EnableSinks: opts.EnableSinks,
			Connectors:  reg,
		})
		if err != nil {
			var se *sql.Error
			if errors.As(err, &se) {
				pe := &PlanError{Diagnostics: make([]Diagnostic, 0, len(se.Diagnostics))}
				for _, d := range se.Diagnostics {
					var span *Span
					if d.Span != nil {
						span = &Span{
							Start: Position{Line: d.Span.Start.Line, Column: d.Span.Start.Column},
							End:   Position{Line: d.Span.End.Line, Column: d.Span.End.Column},
						}
					}
					pe.Diagnostics = append(pe.Diagnostics, Diagnostic{Message: d.Message, Span: span})
				}
				return nil, pe
			}
			return nil, err
		}
		return prog, nil
	}
}

// ConnectorList adapts a connector registry to Config.Connectors (nil: the
// built-in registry). Hidden connectors are listed too, flagged, as Arroyo
// does; clients filter them.
func ConnectorList(reg *connectors.Registry) func() []Connector {
	if reg == nil {
		reg = connectors.Default()
	}
	return func() []Connector {
		ds := reg.List()
		out := make([]Connector, 0, len(ds))
		for _, d := range ds {
			out = append(out, Connector(d))
		}
		return out
	}
}
