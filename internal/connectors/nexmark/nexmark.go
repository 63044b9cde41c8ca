// Package nexmark is the Nexmark benchmark source: a simulated online
// auction emitting persons, auctions and bids in the standard 1:3:46 mix.
//
// Every event is a pure function of (seed, event number, event-time
// settings), and subtask i of N generates the event numbers i, i+N, i+2N …,
// so the union of all subtasks is the same set of events whatever the
// parallelism.
package nexmark

import (
	"fmt"
	"math"
	"strings"
	"sync"
	"time"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/runnel-dev/runnel/internal/connectors"
	"github.com/runnel-dev/runnel/internal/engine"
	"github.com/runnel-dev/runnel/internal/engine/expr"
)

func init() { connectors.Register(Connector{}) }

// ID is the connector id.
const ID = "nexmark"

// DefaultEventTimeRate is how fast event time advances, in events per
// second, when the source is unthrottled and event_time_rate is not set.
// It is the default throughput of the Flink Nexmark suite, so that windowed
// queries see windows of the same size as in its published results.
const DefaultEventTimeRate = 10_000_000

// Config is a nexmark table's options.
type Config struct {
	// EventRate is events per second for the whole source; 0 means as fast
	// as possible.
	EventRate float64
	// Runtime bounds the run: with an event rate it fixes the event count
	// at floor(EventRate*Runtime) (as Arroyo does); unthrottled, it is a
	// wall-clock limit. Zero means no limit.
	Runtime time.Duration
	// Events bounds the total number of events; nil is unbounded.
	Events *int64
	// Seed selects the random content; the same seed and options give the
	// same events.
	Seed int64
	// FirstEventTime is the event time of event 0; nil means the time the
	// run starts.
	FirstEventTime *time.Time
	// EventTimeRate is how many events share one second of event time.
	EventTimeRate float64
}

// ParseConfig reads the options event_rate, runtime, events, seed,
// first_event_time and event_time_rate.
func ParseConfig(o *connectors.Options) (Config, error) {
	var c Config
	rate, _, err := o.Float("event_rate")
	if err != nil {
		return c, err
	}
	if rate < 0 || math.IsNaN(rate) || math.IsInf(rate, 0) {
		return c, &connectors.OptionError{Key: "event_rate", Msg: "option 'event_rate' must be a finite number >= 0 (0 is as fast as possible)"}
	}
	c.EventRate = rate

	rt, ok, err := o.Float("runtime")
	if err != nil {
		return c, err
	}
	if ok {
		if !(rt > 0) || math.IsInf(rt, 0) || rt > 1e9 {
			return c, &connectors.OptionError{Key: "runtime", Msg: fmt.Sprintf("option 'runtime' must be a positive number of seconds, got '%g'", rt)}
		}
		c.Runtime = time.Duration(rt * float64(time.Second))
	}

	n, ok, err := o.Int("events")
	if err != nil {
		return c, err
	}
	if ok {
		if n < 0 {
			return c, &connectors.OptionError{Key: "events", Msg: "option 'events' must not be negative"}
		}
		c.Events = &n
	}

	seed, _, err := o.Int("seed")
	if err != nil {
		return c, err
	}
	c.Seed = seed

	if s, ok := o.String("first_event_time"); ok {
		t, err := parseTime(s)
		if err != nil {
			return c, &connectors.OptionError{Key: "first_event_time", Msg: fmt.Sprintf("option 'first_event_time' must be an RFC 3339 timestamp such as '2024-01-01T00:00:00Z', got '%s'", s)}
		}
		c.FirstEventTime = &t
	}

	etr, ok, err := o.Float("event_time_rate")
	if err != nil {
		return c, err
	}
	switch {
	case ok && (!(etr > 0) || math.IsInf(etr, 0)):
		return c, &connectors.OptionError{Key: "event_time_rate", Msg: "option 'event_time_rate' must be a positive number of events per second"}
	case ok:
		c.EventTimeRate = etr
	case rate > 0:
		c.EventTimeRate = rate
	default:
		c.EventTimeRate = DefaultEventTimeRate
	}
	return c, nil
}

func parseTime(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	var err error
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999", "2006-01-02 15:04:05.999999999Z07:00", "2006-01-02 15:04:05.999999999"} {
		var t time.Time
		if t, err = time.Parse(layout, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, err
}

// TotalEvents is the number of events the whole source emits, or -1 if
// that is not fixed in advance.
func (c Config) TotalEvents() int64 {
	total := int64(-1)
	if c.Events != nil {
		total = *c.Events
	}
	if c.Runtime > 0 && c.EventRate > 0 {
		n := int64(math.Floor(c.EventRate * c.Runtime.Seconds()))
		if total < 0 || n < total {
			total = n
		}
	}
	return total
}

// Struct types of the three event kinds. Datetimes are microsecond
// timestamps, the planner's TIMESTAMP type.
var (
	PersonType = arrow.StructOf(
		arrow.Field{Name: "id", Type: arrow.PrimitiveTypes.Int64},
		arrow.Field{Name: "name", Type: arrow.BinaryTypes.String},
		arrow.Field{Name: "email_address", Type: arrow.BinaryTypes.String},
		arrow.Field{Name: "credit_card", Type: arrow.BinaryTypes.String},
		arrow.Field{Name: "city", Type: arrow.BinaryTypes.String},
		arrow.Field{Name: "state", Type: arrow.BinaryTypes.String},
		arrow.Field{Name: "datetime", Type: expr.Timestamp},
		arrow.Field{Name: "extra", Type: arrow.BinaryTypes.String},
	)
	AuctionType = arrow.StructOf(
		arrow.Field{Name: "id", Type: arrow.PrimitiveTypes.Int64},
		arrow.Field{Name: "item_name", Type: arrow.BinaryTypes.String},
		arrow.Field{Name: "description", Type: arrow.BinaryTypes.String},
		arrow.Field{Name: "initial_bid", Type: arrow.PrimitiveTypes.Int64},
		arrow.Field{Name: "reserve", Type: arrow.PrimitiveTypes.Int64},
		arrow.Field{Name: "datetime", Type: expr.Timestamp},
		arrow.Field{Name: "expires", Type: expr.Timestamp},
		arrow.Field{Name: "seller", Type: arrow.PrimitiveTypes.Int64},
		arrow.Field{Name: "category", Type: arrow.PrimitiveTypes.Int64},
		arrow.Field{Name: "extra", Type: arrow.BinaryTypes.String},
	)
	BidType = arrow.StructOf(
		arrow.Field{Name: "auction", Type: arrow.PrimitiveTypes.Int64},
		arrow.Field{Name: "bidder", Type: arrow.PrimitiveTypes.Int64},
		arrow.Field{Name: "price", Type: arrow.PrimitiveTypes.Int64},
		arrow.Field{Name: "channel", Type: arrow.BinaryTypes.String},
		arrow.Field{Name: "url", Type: arrow.BinaryTypes.String},
		arrow.Field{Name: "datetime", Type: expr.Timestamp},
		arrow.Field{Name: "extra", Type: arrow.BinaryTypes.String},
	)
)

// Columns is the fixed schema of a nexmark table: one row per event, with
// exactly one of the three columns non-null.
var Columns = []connectors.Column{
	{Name: "person", Type: PersonType, Nullable: true},
	{Name: "auction", Type: AuctionType, Nullable: true},
	{Name: "bid", Type: BidType, Nullable: true},
}

// Schema is the schema of the batches a nexmark source emits.
func Schema() *arrow.Schema { return connectors.SchemaOf(Columns) }

// Connector is the nexmark connector.
type Connector struct{}

// Descriptor implements connectors.Connector.
func (Connector) Descriptor() connectors.Descriptor {
	return connectors.Descriptor{
		ID:          ID,
		Name:        "Nexmark",
		Icon:        icon,
		Description: "Demo source for a simulated auction website",
		TableConfig: tableConfig,
		Enabled:     true,
		Source:      true,
	}
}

// NewTable implements connectors.Connector.
func (Connector) NewTable(spec connectors.TableSpec) (*connectors.Table, error) {
	if len(spec.Columns) > 0 {
		return nil, fmt.Errorf("nexmark tables have a fixed schema (person, auction, bid); remove the column list")
	}
	cfg, err := ParseConfig(spec.Options)
	if err != nil {
		return nil, err
	}
	schema := Schema()
	base := &baseTime{fixed: cfg.FirstEventTime}
	return &connectors.Table{
		Columns:     Columns,
		Description: describe(cfg),
		NewSource: func(info engine.TaskInfo) (engine.Source, error) {
			return NewSource(cfg, schema, info.Subtask, info.Parallelism, base.get(info)), nil
		},
		NewSourceReading: func(r connectors.Reads) func(engine.TaskInfo) (engine.Source, error) {
			skip := Skips{
				Person:     !r.Column("person"),
				Auction:    !r.Column("auction"),
				Bid:        !r.Column("bid"),
				BidChannel: !r.Field("bid", "channel"),
				BidURL:     !r.Field("bid", "url"),
				BidExtra:   !r.Field("bid", "extra"),
			}
			return func(info engine.TaskInfo) (engine.Source, error) {
				s := NewSource(cfg, schema, info.Subtask, info.Parallelism, base.get(info))
				s.skip = skip
				return s, nil
			}
		},
	}, nil
}

func describe(cfg Config) string {
	var b strings.Builder
	b.WriteString("nexmark (")
	if cfg.EventRate > 0 {
		fmt.Fprintf(&b, "%g events/s", cfg.EventRate)
	} else {
		b.WriteString("as fast as possible")
	}
	if n := cfg.TotalEvents(); n >= 0 {
		fmt.Fprintf(&b, ", %d events", n)
	} else if cfg.Runtime > 0 {
		fmt.Fprintf(&b, ", %s", cfg.Runtime)
	}
	fmt.Fprintf(&b, ", seed %d)", cfg.Seed)
	return b.String()
}

// baseTime gives every subtask of one run the same first event time, so
// that the events' datetimes do not depend on which subtask made them.
type baseTime struct {
	fixed *time.Time

	mu  sync.Mutex
	job string
	run int64
	t   time.Time
	set bool
}

func (b *baseTime) get(info engine.TaskInfo) time.Time {
	if b.fixed != nil {
		return *b.fixed
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.set || b.job != info.JobID || b.run != info.RunID {
		b.job, b.run, b.t, b.set = info.JobID, info.RunID, time.Now().UTC().Truncate(time.Millisecond), true
	}
	return b.t
}

const tableConfig = `{"type":"object","title":"NexmarkTable","properties":{` +
	`"event_rate":{"type":"number","title":"Event rate (events / sec)","description":"Events per second for the whole source; 0 or absent is as fast as possible","minimum":0},` +
	`"runtime":{"type":"number","title":"Runtime (seconds)","description":"If set, the source finishes after this many seconds (with an event rate: after floor(event_rate * runtime) events)","exclusiveMinimum":0},` +
	`"events":{"type":"integer","title":"Events","description":"If set, the source finishes after this many events in total","minimum":0},` +
	`"seed":{"type":"integer","title":"Seed","description":"Random seed; the same seed and options give the same events (default 0)"},` +
	`"first_event_time":{"type":"string","format":"date-time","title":"First event time","description":"Event time of the first event (RFC 3339); default: when the run starts"},` +
	`"event_time_rate":{"type":"number","title":"Event-time rate (events / sec)","description":"How fast event time advances; default: event_rate, or 10000000 when unthrottled","exclusiveMinimum":0}},` +
	`"required":[]}`

const icon = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 24 24" fill="none" stroke="currentColor" stroke-width="2"><path d="M3 21h18"/><path d="M14.5 3.5l6 6"/><path d="M9 9l6 6"/><path d="M12 6.5l5.5 5.5-3 3L9 9.5z"/><path d="M11 13l-7 7"/></svg>`
