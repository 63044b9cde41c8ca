package cluster

import (
	"context"
	"errors"

	"github.com/runnel-dev/runnel/internal/api"
	"github.com/runnel-dev/runnel/internal/connectors"
	"github.com/runnel-dev/runnel/internal/sql"
)

// planner adapts the SQL planner to the API, turning the planner's
// diagnostics into the API's so that the API does not depend on planner
// internals.
func planner(_ context.Context, query string, opts api.PlanOptions) (api.Program, error) {
	prog, err := sql.Plan(query, sql.Options{Parallelism: opts.Parallelism, Preview: opts.Preview, EnableSinks: opts.EnableSinks})
	if err != nil {
		var planErr *sql.Error
		if !errors.As(err, &planErr) {
			return nil, err
		}
		pe := &api.PlanError{}
		for _, d := range planErr.Diagnostics {
			ad := api.Diagnostic{Message: d.Message}
			if d.Span != nil {
				ad.Span = &api.Span{
					Start: api.Position{Line: d.Span.Start.Line, Column: d.Span.Start.Column},
					End:   api.Position{Line: d.Span.End.Line, Column: d.Span.End.Column},
				}
			}
			pe.Diagnostics = append(pe.Diagnostics, ad)
		}
		return nil, pe
	}
	return prog, nil
}

func connectorList() []api.Connector {
	var out []api.Connector
	for _, d := range connectors.List() {
		out = append(out, api.Connector(d))
	}
	return out
}
