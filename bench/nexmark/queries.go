// Package nexmark holds the Nexmark queries in Runnel's SQL dialect (one
// .sql file per query, Arroyo/Flink-Nexmark semantics) and the correctness
// oracle that checks them against SQLite.
//
// The files are templates: {{SOURCE}} stands for the nexmark table's
// options (event count, rate, seed, ...) and {{SINK}} for the result
// table's options, so the same text serves benchmarks (blackhole sink)
// and tests (collect sink). Render fills them in.
package nexmark

import (
	"embed"
	"fmt"
	"strconv"
	"strings"
)

//go:embed *.sql
var files embed.FS

// Names lists the queries, in order.
var Names = []string{"q0", "q1", "q2", "q3", "q4", "q5", "q7", "q8"}

// Source is the nexmark table's options.
type Source struct {
	// Events is the total event count (bounded runs only).
	Events int64
	// Seed selects the events' content.
	Seed int64
	// EventRate is events/s; 0 is as fast as possible.
	EventRate float64
	// FirstEventTime (RFC 3339) fixes event 0's time; empty is run start.
	FirstEventTime string
	// EventTimeRate is events per second of event time; 0 is the
	// connector's default.
	EventTimeRate float64
}

// Options renders the source as a WITH option list (without parentheses).
func (s Source) Options() string {
	opts := []string{
		"events = '" + strconv.FormatInt(s.Events, 10) + "'",
		"event_rate = '" + strconv.FormatFloat(s.EventRate, 'g', -1, 64) + "'",
		"seed = '" + strconv.FormatInt(s.Seed, 10) + "'",
	}
	if s.FirstEventTime != "" {
		opts = append(opts, "first_event_time = '"+s.FirstEventTime+"'")
	}
	if s.EventTimeRate > 0 {
		opts = append(opts, "event_time_rate = '"+strconv.FormatFloat(s.EventTimeRate, 'g', -1, 64)+"'")
	}
	return strings.Join(opts, ", ")
}

// Blackhole is the sink option list of benchmarks.
const Blackhole = "connector = 'blackhole'"

// FileSink is the option list of a filesystem sink writing format (json,
// debezium_json, parquet) files into dir, as exactly-once tests read them.
func FileSink(dir, format string) string {
	return fmt.Sprintf("connector = 'filesystem', path = '%s', format = '%s'", dir, format)
}

// Text returns a query's template.
func Text(name string) (string, error) {
	b, err := files.ReadFile(name + ".sql")
	if err != nil {
		return "", fmt.Errorf("unknown nexmark query %q (have %s)", name, strings.Join(Names, ", "))
	}
	return string(b), nil
}

// Render returns a query with the source options and the sink options
// (for example Blackhole) filled in.
func Render(name string, src Source, sink string) (string, error) {
	t, err := Text(name)
	if err != nil {
		return "", err
	}
	return strings.NewReplacer("{{SOURCE}}", src.Options(), "{{SINK}}", sink).Replace(t), nil
}
