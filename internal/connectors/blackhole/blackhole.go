// Package blackhole is a sink that discards everything, for tests and
// benchmarks.
package blackhole

import (
	"context"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/runnel-dev/runnel/internal/connectors"
	"github.com/runnel-dev/runnel/internal/engine"
)

func init() { connectors.Register(Connector{}) }

// Connector is the blackhole connector.
type Connector struct{}

// Descriptor implements connectors.Connector.
func (Connector) Descriptor() connectors.Descriptor {
	return connectors.Descriptor{
		ID:          "blackhole",
		Name:        "Blackhole",
		Icon:        icon,
		Description: "No-op sink that swallows all data",
		TableConfig: `{"type":"object","title":"BlackholeTable","properties":{},"required":[]}`,
		Enabled:     true,
		Sink:        true,
	}
}

// NewTable implements connectors.Connector. Declared columns, if any,
// are what the sink accepts.
func (Connector) NewTable(spec connectors.TableSpec) (*connectors.Table, error) {
	return &connectors.Table{
		Columns:     spec.Columns,
		Description: "blackhole",
		// Dropping rows works the same for changelogs.
		Updating: true,
		NewSink: func(*arrow.Schema) func(engine.TaskInfo) (engine.Operator, error) {
			return func(engine.TaskInfo) (engine.Operator, error) { return sink{}, nil }
		},
	}, nil
}

type sink struct{}

func (sink) Process(context.Context, arrow.RecordBatch, engine.Collector) error { return nil }
func (sink) Finish(context.Context, engine.Collector) error                     { return nil }

const icon = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 24 24" fill="currentColor"><circle cx="12" cy="12" r="10"/></svg>`
