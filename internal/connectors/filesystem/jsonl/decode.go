package jsonl

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/runnel-dev/runnel/internal/engine/expr"
)

// Decoder builds record batches from JSON lines against declared columns.
// Keys that name no column are ignored; a missing key is a null.
type Decoder struct {
	schema *arrow.Schema
	fields []field
	b      *array.RecordBuilder
	raw    map[string]json.RawMessage
	vals   []any
	rows   int
}

type field struct {
	name     string
	nullable bool
	c        *conv
}

// conv parses and appends values of one type. Parsing checks everything,
// and appending cannot fail, so a bad row leaves the builders untouched.
type conv struct {
	t      arrow.DataType
	fields []field // struct
	elem   *conv   // list
}

// NewDecoder prepares a decoder for rows with the given fields.
func NewDecoder(fields []arrow.Field) (*Decoder, error) {
	d := &Decoder{schema: arrow.NewSchema(fields, nil), raw: map[string]json.RawMessage{}}
	for _, f := range fields {
		c, err := newConv(f.Type)
		if err != nil {
			return nil, fmt.Errorf("column %q: %w", f.Name, err)
		}
		d.fields = append(d.fields, field{name: f.Name, nullable: f.Nullable, c: c})
	}
	d.b = array.NewRecordBuilder(memory.DefaultAllocator, d.schema)
	d.vals = make([]any, len(fields))
	return d, nil
}

// CheckDecode reports whether values of type t can be read.
func CheckDecode(t arrow.DataType) error {
	_, err := newConv(t)
	return err
}

func newConv(t arrow.DataType) (*conv, error) {
	c := &conv{t: t}
	switch t := t.(type) {
	case *arrow.NullType, *arrow.BooleanType,
		*arrow.Int8Type, *arrow.Int16Type, *arrow.Int32Type, *arrow.Int64Type,
		*arrow.Uint8Type, *arrow.Uint16Type, *arrow.Uint32Type, *arrow.Uint64Type,
		*arrow.Float32Type, *arrow.Float64Type, *arrow.StringType, *arrow.LargeStringType,
		*arrow.BinaryType, *arrow.LargeBinaryType, *arrow.TimestampType, *arrow.Date32Type:
	case *arrow.StructType:
		for _, f := range t.Fields() {
			fc, err := newConv(f.Type)
			if err != nil {
				return nil, fmt.Errorf("field %q: %w", f.Name, err)
			}
			c.fields = append(c.fields, field{name: f.Name, nullable: f.Nullable, c: fc})
		}
	case *arrow.ListType:
		e, err := newConv(t.Elem())
		if err != nil {
			return nil, err
		}
		c.elem = e
	case *arrow.LargeListType:
		e, err := newConv(t.Elem())
		if err != nil {
			return nil, err
		}
		c.elem = e
	default:
		return nil, fmt.Errorf("type %s is not supported in JSON", t)
	}
	return c, nil
}

// Len is the number of rows buffered.
func (d *Decoder) Len() int { return d.rows }

// Schema is the schema of the batches made.
func (d *Decoder) Schema() *arrow.Schema { return d.schema }

// Append parses one line (a JSON object) and buffers it as a row. On
// error nothing is buffered.
func (d *Decoder) Append(line []byte) error {
	line = bytes.TrimSpace(line)
	if len(line) == 0 || line[0] != '{' {
		return fmt.Errorf("not a JSON object: %s", excerpt(line))
	}
	clear(d.raw)
	if err := json.Unmarshal(line, &d.raw); err != nil {
		return fmt.Errorf("invalid JSON: %w", err)
	}
	if err := parseFields(d.fields, d.raw, d.vals, ""); err != nil {
		return err
	}
	for i, f := range d.fields {
		f.c.append(d.b.Field(i), d.vals[i])
	}
	d.rows++
	return nil
}

// NewBatch returns the buffered rows as a batch and starts a new one.
func (d *Decoder) NewBatch() arrow.RecordBatch {
	d.rows = 0
	return d.b.NewRecordBatch()
}

// Release frees the builders.
func (d *Decoder) Release() { d.b.Release() }

func parseFields(fields []field, raw map[string]json.RawMessage, out []any, prefix string) error {
	for i, f := range fields {
		r, ok := raw[f.name]
		var v any
		if ok {
			var err error
			if v, err = f.c.parse(r); err != nil {
				return fmt.Errorf("column %q: %w", prefix+f.name, err)
			}
		}
		if v == nil && !f.nullable {
			if !ok {
				return fmt.Errorf("column %q is missing and may not be null", prefix+f.name)
			}
			return fmt.Errorf("column %q may not be null", prefix+f.name)
		}
		out[i] = v
	}
	return nil
}

func excerpt(raw []byte) string {
	s := string(raw)
	if len(s) > 60 {
		s = s[:57] + "..."
	}
	return s
}

func (c *conv) mismatch(raw []byte) error {
	return fmt.Errorf("expected %s, got %s", typeName(c.t), excerpt(raw))
}

func typeName(t arrow.DataType) string {
	switch t.(type) {
	case *arrow.StructType:
		return "an object"
	case *arrow.ListType, *arrow.LargeListType:
		return "an array"
	}
	return expr.SQLTypeName(t)
}

var timestampLayouts = []string{
	time.RFC3339Nano,
	"2006-01-02T15:04:05.999999999",
	"2006-01-02 15:04:05.999999999Z07:00",
	"2006-01-02 15:04:05.999999999",
}

// parse converts one JSON value; JSON null is nil.
func (c *conv) parse(raw json.RawMessage) (any, error) {
	raw = bytes.TrimSpace(raw)
	if string(raw) == "null" {
		return nil, nil
	}
	switch t := c.t.(type) {
	case *arrow.NullType:
		return nil, c.mismatch(raw)
	case *arrow.BooleanType:
		switch string(raw) {
		case "true":
			return true, nil
		case "false":
			return false, nil
		}
		return nil, c.mismatch(raw)
	case *arrow.Int8Type, *arrow.Int16Type, *arrow.Int32Type, *arrow.Int64Type:
		n, err := strconv.ParseInt(string(raw), 10, t.(arrow.FixedWidthDataType).BitWidth())
		if err != nil {
			return nil, c.mismatch(raw)
		}
		return n, nil
	case *arrow.Uint8Type, *arrow.Uint16Type, *arrow.Uint32Type, *arrow.Uint64Type:
		n, err := strconv.ParseUint(string(raw), 10, t.(arrow.FixedWidthDataType).BitWidth())
		if err != nil {
			return nil, c.mismatch(raw)
		}
		return n, nil
	case *arrow.Float32Type, *arrow.Float64Type:
		if raw[0] == '"' {
			var s string
			if json.Unmarshal(raw, &s) == nil {
				switch s {
				case "NaN":
					return math.NaN(), nil
				case "Infinity":
					return math.Inf(1), nil
				case "-Infinity":
					return math.Inf(-1), nil
				}
			}
			return nil, c.mismatch(raw)
		}
		bits := 64
		if _, ok := t.(*arrow.Float32Type); ok {
			bits = 32
		}
		f, err := strconv.ParseFloat(string(raw), bits)
		if err != nil {
			return nil, c.mismatch(raw)
		}
		return f, nil
	case *arrow.StringType, *arrow.LargeStringType:
		s, err := parseString(raw)
		if err != nil {
			return nil, c.mismatch(raw)
		}
		return s, nil
	case *arrow.BinaryType, *arrow.LargeBinaryType:
		s, err := parseString(raw)
		if err != nil {
			return nil, c.mismatch(raw)
		}
		b, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			return nil, fmt.Errorf("expected base64 text, got %s", excerpt(raw))
		}
		return b, nil
	case *arrow.TimestampType:
		s, err := parseString(raw)
		if err != nil {
			return nil, fmt.Errorf("expected an RFC 3339 timestamp string, got %s", excerpt(raw))
		}
		for _, l := range timestampLayouts {
			if ts, err := time.Parse(l, strings.TrimSpace(s)); err == nil {
				return ts, nil
			}
		}
		return nil, fmt.Errorf("expected an RFC 3339 timestamp such as \"2024-01-02T03:04:05.000000Z\", got %s", excerpt(raw))
	case *arrow.Date32Type:
		s, err := parseString(raw)
		if err == nil {
			var ts time.Time
			if ts, err = time.Parse(layoutDate, s); err == nil {
				return ts, nil
			}
		}
		return nil, fmt.Errorf("expected a date such as \"2024-01-02\", got %s", excerpt(raw))
	case *arrow.StructType:
		if raw[0] != '{' {
			return nil, c.mismatch(raw)
		}
		m := map[string]json.RawMessage{}
		if err := json.Unmarshal(raw, &m); err != nil {
			return nil, c.mismatch(raw)
		}
		vals := make([]any, len(c.fields))
		if err := parseFields(c.fields, m, vals, ""); err != nil {
			return nil, err
		}
		return vals, nil
	case *arrow.ListType, *arrow.LargeListType:
		var items []json.RawMessage
		if raw[0] != '[' || json.Unmarshal(raw, &items) != nil {
			return nil, c.mismatch(raw)
		}
		vals := make([]any, len(items))
		for i, it := range items {
			v, err := c.elem.parse(it)
			if err != nil {
				return nil, fmt.Errorf("item %d: %w", i, err)
			}
			vals[i] = v
		}
		return vals, nil
	}
	return nil, c.mismatch(raw)
}

// parseString reads a JSON string, without a second pass when it has no
// escapes.
func parseString(raw []byte) (string, error) {
	if len(raw) < 2 || raw[0] != '"' || raw[len(raw)-1] != '"' {
		return "", fmt.Errorf("not a string")
	}
	if bytes.IndexByte(raw, '\\') < 0 {
		return string(raw[1 : len(raw)-1]), nil
	}
	var s string
	err := json.Unmarshal(raw, &s)
	return s, err
}

// append adds a parsed value (nil is null) to a builder of c's type.
func (c *conv) append(b array.Builder, v any) {
	if v == nil {
		b.AppendNull()
		return
	}
	switch b := b.(type) {
	case *array.BooleanBuilder:
		b.Append(v.(bool))
	case *array.Int8Builder:
		b.Append(int8(v.(int64)))
	case *array.Int16Builder:
		b.Append(int16(v.(int64)))
	case *array.Int32Builder:
		b.Append(int32(v.(int64)))
	case *array.Int64Builder:
		b.Append(v.(int64))
	case *array.Uint8Builder:
		b.Append(uint8(v.(uint64)))
	case *array.Uint16Builder:
		b.Append(uint16(v.(uint64)))
	case *array.Uint32Builder:
		b.Append(uint32(v.(uint64)))
	case *array.Uint64Builder:
		b.Append(v.(uint64))
	case *array.Float32Builder:
		b.Append(float32(v.(float64)))
	case *array.Float64Builder:
		b.Append(v.(float64))
	case *array.StringBuilder:
		b.Append(v.(string))
	case *array.LargeStringBuilder:
		b.Append(v.(string))
	case *array.BinaryBuilder:
		b.Append(v.([]byte))
	case *array.TimestampBuilder:
		b.Append(toTimestamp(v.(time.Time), c.t.(*arrow.TimestampType).Unit))
	case *array.Date32Builder:
		b.Append(arrow.Date32FromTime(v.(time.Time)))
	case *array.StructBuilder:
		vals := v.([]any)
		b.Append(true)
		for i, f := range c.fields {
			f.c.append(b.FieldBuilder(i), vals[i])
		}
	case array.ListLikeBuilder:
		vals := v.([]any)
		b.Append(true)
		for _, x := range vals {
			c.elem.append(b.ValueBuilder(), x)
		}
	default:
		panic(fmt.Sprintf("jsonl: no append for %T", b))
	}
}

func toTimestamp(t time.Time, unit arrow.TimeUnit) arrow.Timestamp {
	switch unit {
	case arrow.Second:
		return arrow.Timestamp(t.Unix())
	case arrow.Millisecond:
		return arrow.Timestamp(t.UnixMilli())
	case arrow.Microsecond:
		return arrow.Timestamp(t.UnixMicro())
	}
	return arrow.Timestamp(t.UnixNano())
}
