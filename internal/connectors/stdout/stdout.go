// Package stdout is a sink that writes rows to standard output as JSON
// lines, for demos and debugging.
package stdout

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/runnel-dev/runnel/internal/connectors"
	"github.com/runnel-dev/runnel/internal/connectors/filesystem/jsonl"
	"github.com/runnel-dev/runnel/internal/engine"
)

func init() { connectors.Register(&Connector{}) }

// ID is the connector id.
const ID = "stdout"

// Connector is the stdout connector. The registered one writes to
// os.Stdout; tests make their own with another writer.
type Connector struct {
	// Out receives the JSON lines; nil is os.Stdout.
	Out io.Writer

	// mu keeps the subtasks' writes whole: each batch is written with one
	// call under it, so lines never interleave.
	mu sync.Mutex
}

// New returns a connector writing to w.
func New(w io.Writer) *Connector { return &Connector{Out: w} }

// Descriptor implements connectors.Connector.
func (c *Connector) Descriptor() connectors.Descriptor {
	return connectors.Descriptor{
		ID:            ID,
		Name:          "StdOut",
		Icon:          icon,
		Description:   "Write outputs to stdout",
		TableConfig:   tableConfig,
		Enabled:       true,
		Sink:          true,
		CustomSchemas: true,
	}
}

// NewTable implements connectors.Connector. The only option is format:
// json (the default) or debezium_json, a changelog line per change, which
// updating queries need.
func (c *Connector) NewTable(spec connectors.TableSpec) (*connectors.Table, error) {
	changelog := false
	if f, ok := spec.Options.String("format"); ok {
		switch strings.ToLower(strings.TrimSpace(f)) {
		case "json":
		case "debezium_json":
			changelog = true
		default:
			return nil, &connectors.OptionError{Key: "format", Msg: fmt.Sprintf("unknown format '%s' for connector 'stdout'; use 'json' or 'debezium_json'", f)}
		}
	}
	for _, col := range spec.Columns {
		if err := jsonl.Check(col.Type); err != nil {
			return nil, fmt.Errorf("column '%s': %w", col.Name, err)
		}
	}
	return &connectors.Table{
		Columns:     spec.Columns,
		Description: "stdout (JSON lines)",
		Updating:    changelog,
		NewSink: func(schema *arrow.Schema) func(engine.TaskInfo) (engine.Operator, error) {
			return func(engine.TaskInfo) (engine.Operator, error) {
				enc, err := jsonl.NewEncoder(schema)
				if err != nil {
					return nil, fmt.Errorf("stdout sink: %w", err)
				}
				return &sink{c: c, enc: enc, changelog: changelog}, nil
			}
		},
	}, nil
}

func (c *Connector) write(p []byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	w := c.Out
	if w == nil {
		w = os.Stdout
	}
	if _, err := w.Write(p); err != nil {
		return fmt.Errorf("write to stdout: %w", err)
	}
	return nil
}

type sink struct {
	c         *Connector
	enc       *jsonl.Encoder
	buf       []byte
	changelog bool
}

func (s *sink) Process(_ context.Context, b arrow.RecordBatch, _ engine.Collector) error {
	if b.NumRows() == 0 {
		return nil
	}
	if s.changelog {
		s.buf = s.enc.AppendChanges(s.buf[:0], b)
	} else {
		s.buf = s.enc.AppendBatch(s.buf[:0], b)
	}
	return s.c.write(s.buf)
}

func (s *sink) Finish(context.Context, engine.Collector) error { return nil }

const tableConfig = `{"type":"object","title":"StdoutTable","properties":{` +
	`"format":{"type":"string","title":"Format","enum":["json","debezium_json"],"description":"Output format: json, JSON lines; debezium_json, a changelog line per change ({before, after, op}), for updating queries"}},` +
	`"required":[]}`

const icon = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 24 24" fill="none" stroke="currentColor" stroke-width="2"><polyline points="4 17 10 11 4 5"/><line x1="12" y1="19" x2="20" y2="19"/></svg>`
