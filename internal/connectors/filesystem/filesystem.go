// Package filesystem reads and writes tables as files in a local
// directory: JSON lines or Parquet. As a source it is bounded: it reads the
// files present when it starts and ends. As a sink it writes one file per
// subtask, made visible by a rename only once complete.
package filesystem

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync/atomic"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/runnel-dev/runnel/internal/connectors"
	"github.com/runnel-dev/runnel/internal/connectors/filesystem/jsonl"
	"github.com/runnel-dev/runnel/internal/engine"
	"github.com/runnel-dev/runnel/internal/engine/expr"
)

func init() { connectors.Register(Connector{}) }

// ID is the connector id.
const ID = "filesystem"

// Format is a file format.
type Format string

// Formats.
const (
	FormatJSON    Format = "json"
	FormatParquet Format = "parquet"
	// FormatDebeziumJSON writes a changelog, one Debezium-style JSON
	// object per line ({"before":...,"after":...,"op":"c"|"u"|"d"}); it is
	// the format that can take updating queries. Sinks only.
	FormatDebeziumJSON Format = "debezium_json"
)

// extensions are the file name endings a directory source reads, and the
// first is what the sink writes.
var extensions = map[Format][]string{
	FormatJSON:    {".jsonl", ".json", ".ndjson"},
	FormatParquet: {".parquet"},
	// Debezium files are JSON lines too, but are not read back.
	FormatDebeziumJSON: {".jsonl"},
}

// Config is a filesystem table's options.
type Config struct {
	// Path is a directory (source and sink) or a single file (source).
	Path   string
	Format Format
	// EventTimeField names a TIMESTAMP column whose values are the rows'
	// event time; empty means the time a row is read.
	EventTimeField string
}

// ParseConfig reads the options path, format and event_time_field.
func ParseConfig(o *connectors.Options) (Config, error) {
	var c Config
	p, ok := o.String("path")
	if !ok || strings.TrimSpace(p) == "" {
		return c, &connectors.OptionError{Key: "path", Msg: "option 'path' is required: the directory (or, for a source, the file) to read or write"}
	}
	c.Path = strings.TrimPrefix(p, "file://")
	f, ok := o.String("format")
	if !ok {
		return c, &connectors.OptionError{Key: "format", Msg: "option 'format' is required: 'json', 'debezium_json' or 'parquet'"}
	}
	switch Format(strings.ToLower(strings.TrimSpace(f))) {
	case FormatJSON:
		c.Format = FormatJSON
	case FormatParquet:
		c.Format = FormatParquet
	case FormatDebeziumJSON:
		c.Format = FormatDebeziumJSON
	default:
		return c, &connectors.OptionError{Key: "format", Msg: fmt.Sprintf("unknown format '%s' for connector 'filesystem'; use 'json', 'debezium_json' or 'parquet'", f)}
	}
	if s, ok := o.String("event_time_field"); ok {
		c.EventTimeField = s
	}
	return c, nil
}

// Connector is the filesystem connector.
type Connector struct{}

// Descriptor implements connectors.Connector.
func (Connector) Descriptor() connectors.Descriptor {
	return connectors.Descriptor{
		ID:            ID,
		Name:          "FileSystem",
		Icon:          icon,
		Description:   "Read or write JSON lines or Parquet files in a local directory",
		TableConfig:   tableConfig,
		Enabled:       true,
		Source:        true,
		Sink:          true,
		CustomSchemas: true,
	}
}

// NewTable implements connectors.Connector. A JSON table needs declared
// columns to be read; a Parquet table without them takes the schema of the
// first file already at its path. Without columns a table is a sink that
// writes whatever is inserted into it.
func (Connector) NewTable(spec connectors.TableSpec) (*connectors.Table, error) {
	cfg, err := ParseConfig(spec.Options)
	if err != nil {
		return nil, err
	}
	cols := spec.Columns
	check := func(t arrow.DataType) error { return jsonl.CheckDecode(t) }
	switch cfg.Format {
	case FormatParquet:
		check = checkParquet
	case FormatDebeziumJSON:
		check = jsonl.Check
	}
	for _, c := range cols {
		if err := check(c.Type); err != nil {
			return nil, fmt.Errorf("column '%s': %w", c.Name, err)
		}
	}
	if len(cols) == 0 && cfg.Format == FormatParquet {
		if cols, err = inferParquet(cfg.Path); err != nil {
			return nil, err
		}
	}

	tsCol := -1
	if cfg.EventTimeField != "" {
		for i, c := range cols {
			if c.Name == cfg.EventTimeField {
				tsCol = i
			}
		}
		switch {
		case len(cols) == 0:
			return nil, &connectors.OptionError{Key: "event_time_field", Msg: "option 'event_time_field' needs the table's columns; declare them"}
		case tsCol < 0:
			return nil, &connectors.OptionError{Key: "event_time_field", Msg: fmt.Sprintf("option 'event_time_field' names '%s', which is not a column of the table", cfg.EventTimeField)}
		case cols[tsCol].Type.ID() != arrow.TIMESTAMP:
			return nil, &connectors.OptionError{Key: "event_time_field", Msg: fmt.Sprintf("option 'event_time_field': column '%s' is %s, not TIMESTAMP", cfg.EventTimeField, expr.SQLTypeName(cols[tsCol].Type))}
		}
	}

	tbl := &connectors.Table{
		Columns:     cols,
		Description: fmt.Sprintf("filesystem %s (%s)", cfg.Path, cfg.Format),
		Updating:    cfg.Format == FormatDebeziumJSON,
	}
	if len(cols) > 0 && cfg.Format != FormatDebeziumJSON {
		schema := connectors.SchemaOf(cols)
		tbl.NewSource = func(info engine.TaskInfo) (engine.Source, error) {
			return &Source{cfg: cfg, cols: cols, schema: schema, tsCol: tsCol, subtask: info.Subtask, par: max(info.Parallelism, 1)}, nil
		}
	}
	// Each INSERT into the table gets its own file prefix, so that two
	// pipelines writing one directory do not overwrite each other.
	var inserts atomic.Int32
	tbl.NewSink = func(schema *arrow.Schema) func(engine.TaskInfo) (engine.Operator, error) {
		prefix := "part"
		if n := inserts.Add(1) - 1; n > 0 {
			prefix = fmt.Sprintf("part%d", n)
		}
		return func(info engine.TaskInfo) (engine.Operator, error) {
			return NewSink(cfg, schema, prefix, info)
		}
	}
	return tbl, nil
}

// listFiles returns the files a source reads: the path itself if it is a
// file, else the files under it with the format's extensions, sorted by
// path. Names starting with '.' or '_' (temporary and marker files) are
// skipped.
func listFiles(path string, format Format) ([]string, error) {
	st, err := os.Stat(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("path %s does not exist: %w", path, fs.ErrNotExist)
		}
		return nil, err
	}
	if !st.IsDir() {
		return []string{path}, nil
	}
	var files []string
	err = filepath.WalkDir(path, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := d.Name()
		if p != path && (strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_")) {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if d.IsDir() {
			return nil
		}
		for _, ext := range extensions[format] {
			if strings.HasSuffix(name, ext) {
				files = append(files, p)
				break
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", path, err)
	}
	sort.Strings(files)
	return files, nil
}

const tableConfig = `{"type":"object","title":"FileSystemTable","properties":{` +
	`"path":{"type":"string","title":"Path","description":"Directory to write to or read from; a source may also name a single file"},` +
	`"format":{"type":"string","title":"Format","enum":["json","debezium_json","parquet"],"description":"json: one JSON object per line; debezium_json (sink only): a changelog line per change, {before, after, op}, required for updating queries; parquet: Apache Parquet"},` +
	`"event_time_field":{"type":"string","title":"Event time field","description":"Source only: TIMESTAMP column holding each row's event time; default: the time the row is read"}},` +
	`"required":["path","format"]}`

const icon = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 24 24" fill="none" stroke="currentColor" stroke-width="2"><path d="M22 19a2 2 0 0 1-2 2H4a2 2 0 0 1-2-2V5a2 2 0 0 1 2-2h5l2 3h9a2 2 0 0 1 2 2z"/></svg>`
