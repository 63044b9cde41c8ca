// Package connectors holds the registry of source and sink connectors. Each
// connector lives in its own package and registers itself here; the SQL
// planner looks connectors up by the `connector` option of CREATE TABLE,
// and the API lists them for GET /connectors.
//
// Import internal/connectors/all (the planner does) to register every
// built-in connector.
package connectors

import (
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/runnel-dev/runnel/internal/engine"
)

// Descriptor is a connector as GET /connectors shows it.
type Descriptor struct {
	ID          string `json:"id"`
	Name        string `json:"name"`
	Icon        string `json:"icon"`
	Description string `json:"description"`
	// TableConfig is the JSON schema of the table options, as a string.
	TableConfig   string `json:"table_config"`
	Enabled       bool   `json:"enabled"`
	Source        bool   `json:"source"`
	Sink          bool   `json:"sink"`
	CustomSchemas bool   `json:"custom_schemas"`
	Testing       bool   `json:"testing"`
	Hidden        bool   `json:"hidden"`
	// ConnectionConfig is the JSON schema of a connection profile, or nil
	// when the connector needs none.
	ConnectionConfig *string `json:"connection_config"`
}

// Column is one column of a table.
type Column struct {
	Name     string
	Type     arrow.DataType
	Nullable bool
}

// TableSpec is a CREATE TABLE as the planner hands it to a connector.
type TableSpec struct {
	Name string
	// Columns are the declared columns; empty when the statement had none.
	Columns []Column
	// Options are the WITH (...) options other than connector and type.
	Options *Options
}

// Reads says what a statement may read of a source table, for sources
// that can skip the rest (see Table.NewSourceReading). Both functions
// err on the side of "may read".
type Reads struct {
	// Column reports whether the statement may read a column at all
	// (its values or whether it is NULL).
	Column func(name string) bool
	// Field reports whether it may read a field of a struct column
	// (beyond whether the struct is NULL).
	Field func(column, field string) bool
}

// Table is a connector's validated table: what it reads or how it writes.
type Table struct {
	// Columns is what a source produces, or what a sink accepts; nil for a
	// sink that takes the schema of whatever is inserted into it.
	Columns []Column
	// Description is a short human summary for the dataflow graph.
	Description string
	// NewSource builds source instances; nil if the table cannot be read.
	// Sources append the engine.TimestampField column to their batches.
	NewSource func(engine.TaskInfo) (engine.Source, error)
	// NewSourceReading, if set, is NewSource for a statement that reads
	// only what r allows; the source may put anything (NULLs, empty
	// values) in the columns and fields r rules out, which saves making
	// them.
	NewSourceReading func(r Reads) func(engine.TaskInfo) (engine.Source, error)
	// NewSink returns the constructor of sink instances for batches of the
	// given schema (the table's columns then engine.TimestampField); nil if
	// the table cannot be written.
	NewSink func(schema *arrow.Schema) func(engine.TaskInfo) (engine.Operator, error)
	// Preview marks the preview sink.
	Preview bool
	// Updating marks a sink that can write an updating stream: a
	// changelog whose batches carry engine.RetractField (see
	// engine.Changes). The planner rejects updating queries into other
	// sinks.
	Updating bool
}

// Connector validates tables of one kind.
type Connector interface {
	Descriptor() Descriptor
	// NewTable checks a table's options and columns. Errors about one option
	// should be *OptionError so the planner can point at it.
	NewTable(spec TableSpec) (*Table, error)
}

// Registry maps connector ids to connectors. It is safe for concurrent use.
type Registry struct {
	mu sync.RWMutex
	m  map[string]Connector
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry { return &Registry{m: map[string]Connector{}} }

// Register adds a connector; ids are unique.
func (r *Registry) Register(c Connector) error {
	id := c.Descriptor().ID
	if id == "" {
		return fmt.Errorf("connector has no id")
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, dup := r.m[id]; dup {
		return fmt.Errorf("connector %q is already registered", id)
	}
	r.m[id] = c
	return nil
}

// Lookup finds a connector by id.
func (r *Registry) Lookup(id string) (Connector, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	c, ok := r.m[id]
	return c, ok
}

// List describes every connector, sorted by id.
func (r *Registry) List() []Descriptor {
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := make([]Descriptor, 0, len(r.m))
	for _, c := range r.m {
		out = append(out, c.Descriptor())
	}
	slices.SortFunc(out, func(a, b Descriptor) int { return strings.Compare(a.ID, b.ID) })
	return out
}

// IDs lists the registered ids, sorted.
func (r *Registry) IDs() []string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	ids := make([]string, 0, len(r.m))
	for id := range r.m {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

// Clone returns a registry with the same connectors, for tests that add
// their own.
func (r *Registry) Clone() *Registry {
	r.mu.RLock()
	defer r.mu.RUnlock()
	c := NewRegistry()
	for id, conn := range r.m {
		c.m[id] = conn
	}
	return c
}

// builtin is the one piece of global state: connectors register into it
// from their package's init.
var builtin = NewRegistry()

// Register adds a built-in connector; it panics on a duplicate id, which is
// a programming error. Call it from a connector package's init.
func Register(c Connector) {
	if err := builtin.Register(c); err != nil {
		panic(err)
	}
}

// Default is the registry of built-in connectors.
func Default() *Registry { return builtin }

// List describes every built-in connector, sorted by id (GET /connectors).
func List() []Descriptor { return builtin.List() }

// Options are a table's WITH (...) options. Connectors read them with the
// typed getters, which remember what was read so that the planner can
// reject options nobody understood.
type Options struct {
	vals map[string]string
	used map[string]bool
}

// NewOptions wraps option values (keys are case-insensitive).
func NewOptions(vals map[string]string) *Options {
	o := &Options{vals: map[string]string{}, used: map[string]bool{}}
	for k, v := range vals {
		o.vals[strings.ToLower(k)] = v
	}
	return o
}

// String returns an option's raw value.
func (o *Options) String(key string) (string, bool) {
	v, ok := o.vals[key]
	if ok {
		o.used[key] = true
	}
	return v, ok
}

// Int parses an option as an integer.
func (o *Options) Int(key string) (int64, bool, error) {
	v, ok := o.String(key)
	if !ok {
		return 0, false, nil
	}
	n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
	if err != nil {
		return 0, true, &OptionError{Key: key, Msg: fmt.Sprintf("option '%s' must be an integer, got '%s'", key, v)}
	}
	return n, true, nil
}

// Float parses an option as a number.
func (o *Options) Float(key string) (float64, bool, error) {
	v, ok := o.String(key)
	if !ok {
		return 0, false, nil
	}
	f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
	if err != nil {
		return 0, true, &OptionError{Key: key, Msg: fmt.Sprintf("option '%s' must be a number, got '%s'", key, v)}
	}
	return f, true, nil
}

// Unused lists the options no getter has read, sorted.
func (o *Options) Unused() []string {
	var out []string
	for k := range o.vals {
		if !o.used[k] {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

// OptionError is a problem with one table option.
type OptionError struct {
	Key string
	Msg string
}

func (e *OptionError) Error() string { return e.Msg }

// SchemaOf is the Arrow schema of batches carrying the given columns and
// the event-time column.
func SchemaOf(cols []Column) *arrow.Schema {
	fields := make([]arrow.Field, 0, len(cols)+1)
	for _, c := range cols {
		fields = append(fields, arrow.Field{Name: c.Name, Type: c.Type, Nullable: c.Nullable})
	}
	fields = append(fields, arrow.Field{Name: engine.TimestampField, Type: &arrow.TimestampType{Unit: arrow.Microsecond}})
	return arrow.NewSchema(fields, nil)
}
