// Package preview is the sink of preview pipelines: it turns batches into
// JSON rows and sends them to the job's output stream (SSE clients).
package preview

import (
	"context"
	"log/slog"
	"math"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/runnel-dev/runnel/internal/connectors"
	"github.com/runnel-dev/runnel/internal/engine"
	"github.com/runnel-dev/runnel/internal/output"
)

func init() { connectors.Register(Connector{}) }

// ID is the connector id of the preview sink.
const ID = "preview"

// Connector is the preview connector. It is hidden: the planner adds it
// for preview pipelines, and users may also name it in CREATE TABLE.
type Connector struct{}

// Descriptor implements connectors.Connector.
func (Connector) Descriptor() connectors.Descriptor {
	return connectors.Descriptor{
		ID:          ID,
		Name:        "Preview",
		Icon:        icon,
		Description: "Preview outputs in the console",
		TableConfig: `{"type":"object","title":"PreviewTable","properties":{},"required":[]}`,
		Enabled:     true,
		Sink:        true,
		Hidden:      true,
	}
}

// NewTable implements connectors.Connector.
func (Connector) NewTable(spec connectors.TableSpec) (*connectors.Table, error) {
	return &connectors.Table{
		Columns:     spec.Columns,
		Description: "Preview sink",
		Preview:     true,
		// Rows of an updating query keep their engine.RetractField column,
		// so the console sees "_retract": true on a retraction.
		Updating: true,
		NewSink: func(*arrow.Schema) func(engine.TaskInfo) (engine.Operator, error) {
			return func(info engine.TaskInfo) (engine.Operator, error) { return NewSink(info), nil }
		},
	}, nil
}

// Sink is one subtask of a preview sink.
type Sink struct {
	info   engine.TaskInfo
	out    output.Sink
	logger *slog.Logger
	nextID int64
	done   bool
}

// NewSink makes the sink of one subtask. Rows are dropped when the run has
// no output (RunOptions.Output is nil).
func NewSink(info engine.TaskInfo) *Sink {
	l := info.Logger
	if l == nil {
		l = slog.Default()
	}
	return &Sink{info: info, out: info.Output, logger: l}
}

// Process implements engine.Operator.
func (s *Sink) Process(ctx context.Context, b arrow.RecordBatch, _ engine.Collector) error {
	n := b.NumRows()
	if n == 0 {
		return nil
	}
	d := output.Data{
		OperatorID: s.info.OperatorID,
		SubtaskIdx: s.info.Subtask,
		StartID:    s.nextID,
		Timestamps: eventTimes(b),
		Batch:      EncodeRows(b),
	}
	s.nextID += n
	if s.out == nil {
		return nil
	}
	return s.out.Send(ctx, d)
}

// Finish implements engine.Operator: the input ended, so say we are done.
func (s *Sink) Finish(ctx context.Context, _ engine.Collector) error {
	return s.sendDone(ctx)
}

// Close tells readers the output ended even when the run was cancelled.
func (s *Sink) Close() error {
	if s.done {
		return nil
	}
	// Output.Send must not block on readers, so a short bound suffices.
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	return s.sendDone(ctx)
}

func (s *Sink) sendDone(ctx context.Context) error {
	s.done = true
	if s.out == nil {
		return nil
	}
	return s.out.Send(ctx, output.Data{
		OperatorID: s.info.OperatorID,
		SubtaskIdx: s.info.Subtask,
		StartID:    s.nextID,
		Timestamps: []int64{},
		Batch:      "[]",
		Done:       true,
	})
}

// eventTimes reads each row's event time in µs, or stamps now when the
// batch has none.
func eventTimes(b arrow.RecordBatch) []int64 {
	n := int(b.NumRows())
	ts := make([]int64, n)
	if idx := b.Schema().FieldIndices(engine.TimestampField); len(idx) == 1 {
		if col, ok := b.Column(idx[0]).(*array.Timestamp); ok {
			unit := col.DataType().(*arrow.TimestampType).Unit
			for i := range ts {
				if col.IsValid(i) {
					ts[i] = col.Value(i).ToTime(unit).UnixMicro()
				}
			}
			return ts
		}
	}
	now := time.Now().UnixMicro()
	for i := range ts {
		ts[i] = now
	}
	return ts
}

// EncodeRows renders a batch as a JSON array of row objects with explicit
// nulls and RFC 3339 timestamps, leaving out the event-time column.
func EncodeRows(b arrow.RecordBatch) string {
	schema := b.Schema()
	keys := make([][]byte, schema.NumFields())
	for i, f := range schema.Fields() {
		keys[i] = appendJSONString(nil, f.Name)
	}
	buf := make([]byte, 0, 64*int(b.NumRows())+2)
	buf = append(buf, '[')
	for r := 0; r < int(b.NumRows()); r++ {
		if r > 0 {
			buf = append(buf, ',')
		}
		buf = append(buf, '{')
		first := true
		for c, f := range schema.Fields() {
			if f.Name == engine.TimestampField {
				continue
			}
			if !first {
				buf = append(buf, ',')
			}
			first = false
			buf = append(buf, keys[c]...)
			buf = append(buf, ':')
			buf = appendValue(buf, b.Column(c), r)
		}
		buf = append(buf, '}')
	}
	buf = append(buf, ']')
	return string(buf)
}

func appendValue(buf []byte, a arrow.Array, i int) []byte {
	if a.IsNull(i) {
		return append(buf, "null"...)
	}
	switch a := a.(type) {
	case *array.Int8:
		return strconv.AppendInt(buf, int64(a.Value(i)), 10)
	case *array.Int16:
		return strconv.AppendInt(buf, int64(a.Value(i)), 10)
	case *array.Int32:
		return strconv.AppendInt(buf, int64(a.Value(i)), 10)
	case *array.Int64:
		return strconv.AppendInt(buf, a.Value(i), 10)
	case *array.Uint64:
		return strconv.AppendUint(buf, a.Value(i), 10)
	case *array.Uint32:
		return strconv.AppendUint(buf, uint64(a.Value(i)), 10)
	case *array.Float32:
		return appendFloat(buf, float64(a.Value(i)), 32)
	case *array.Float64:
		return appendFloat(buf, a.Value(i), 64)
	case *array.Boolean:
		return strconv.AppendBool(buf, a.Value(i))
	case *array.String:
		return appendJSONString(buf, a.Value(i))
	case *array.LargeString:
		return appendJSONString(buf, a.Value(i))
	case *array.Timestamp:
		unit := a.DataType().(*arrow.TimestampType).Unit
		t := a.Value(i).ToTime(unit).UTC()
		return appendJSONString(buf, t.Format(time.RFC3339Nano))
	case *array.Struct:
		st := a.DataType().(*arrow.StructType)
		buf = append(buf, '{')
		for f := 0; f < a.NumField(); f++ {
			if f > 0 {
				buf = append(buf, ',')
			}
			buf = appendJSONString(buf, st.Field(f).Name)
			buf = append(buf, ':')
			buf = appendValue(buf, a.Field(f), i)
		}
		return append(buf, '}')
	}
	return appendJSONString(buf, a.ValueStr(i))
}

func appendFloat(buf []byte, f float64, bits int) []byte {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return append(buf, "null"...) // JSON has no NaN or infinity
	}
	return strconv.AppendFloat(buf, f, 'g', -1, bits)
}

const hexDigits = "0123456789abcdef"

// appendJSONString quotes s as a JSON string.
func appendJSONString(buf []byte, s string) []byte {
	buf = append(buf, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				buf = append(buf, '\\', c)
			case c == '\n':
				buf = append(buf, '\\', 'n')
			case c == '\r':
				buf = append(buf, '\\', 'r')
			case c == '\t':
				buf = append(buf, '\\', 't')
			case c < 0x20:
				buf = append(buf, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			default:
				buf = append(buf, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			buf = append(buf, `\ufffd`...)
		} else {
			buf = append(buf, s[i:i+size]...)
		}
		i += size
	}
	return append(buf, '"')
}

const icon = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 24 24" fill="none" stroke="currentColor" stroke-width="2"><path d="M1 12s4-8 11-8 11 8 11 8-4 8-11 8-11-8-11-8z"/><circle cx="12" cy="12" r="3"/></svg>`
