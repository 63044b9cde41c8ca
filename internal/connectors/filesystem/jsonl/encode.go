// Package jsonl converts between Arrow record batches and JSON lines: one
// object per row, keys in column order, explicit nulls, timestamps as RFC
// 3339 strings in UTC with microseconds (nanoseconds for nanosecond
// columns). The filesystem connector reads and writes it and the stdout
// sink writes it.
package jsonl

import (
	"encoding/base64"
	"fmt"
	"math"
	"strconv"
	"unicode/utf8"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/runnel-dev/runnel/internal/engine"
)

// Timestamp layouts written; both parse back exactly.
const (
	layoutMicros = "2006-01-02T15:04:05.000000Z07:00"
	layoutNanos  = "2006-01-02T15:04:05.000000000Z07:00"
	layoutDate   = "2006-01-02"
)

// appendFunc appends the JSON of a[i], which is not null.
type appendFunc func(buf []byte, a arrow.Array, i int) []byte

// Encoder writes rows of one schema as JSON objects.
type Encoder struct {
	keys [][]byte // `"name":` (with a leading comma after the first)
	cols []int
	encs []appendFunc
}

// NewEncoder prepares an encoder for batches of the given schema. The
// engine's event-time and changelog (engine.RetractField) columns are
// left out.
func NewEncoder(schema *arrow.Schema) (*Encoder, error) {
	e := &Encoder{}
	for i, f := range schema.Fields() {
		if f.Name == engine.TimestampField || f.Name == engine.RetractField {
			continue
		}
		enc, err := encoderFor(f.Type)
		if err != nil {
			return nil, fmt.Errorf("column %q: %w", f.Name, err)
		}
		key := []byte{}
		if len(e.keys) > 0 {
			key = append(key, ',')
		}
		key = appendString(key, f.Name)
		key = append(key, ':')
		e.keys = append(e.keys, key)
		e.cols = append(e.cols, i)
		e.encs = append(e.encs, enc)
	}
	return e, nil
}

// Check reports whether values of type t can be written.
func Check(t arrow.DataType) error {
	_, err := encoderFor(t)
	return err
}

// AppendRow appends row i of b as one JSON object, without a newline.
func (e *Encoder) AppendRow(buf []byte, b arrow.RecordBatch, i int) []byte {
	buf = append(buf, '{')
	for k, c := range e.cols {
		buf = append(buf, e.keys[k]...)
		a := b.Column(c)
		if a.IsNull(i) {
			buf = append(buf, "null"...)
		} else {
			buf = e.encs[k](buf, a, i)
		}
	}
	return append(buf, '}')
}

// AppendBatch appends every row of b, each followed by a newline.
func (e *Encoder) AppendBatch(buf []byte, b arrow.RecordBatch) []byte {
	for i := 0; i < int(b.NumRows()); i++ {
		buf = e.AppendRow(buf, b, i)
		buf = append(buf, '\n')
	}
	return buf
}

// AppendChanges appends b as Debezium-style JSON lines, one per change:
// {"before":row|null,"after":row|null,"op":"c"|"u"|"d"}. b's changelog
// flags are its engine.RetractField column; without one every row is a
// create.
func (e *Encoder) AppendChanges(buf []byte, b arrow.RecordBatch) []byte {
	var flags *array.Boolean
	if idx := b.Schema().FieldIndices(engine.RetractField); len(idx) == 1 {
		flags, _ = b.Column(idx[0]).(*array.Boolean)
	}
	row := func(buf []byte, i int) []byte {
		if i < 0 {
			return append(buf, "null"...)
		}
		return e.AppendRow(buf, b, i)
	}
	for _, c := range engine.ChangesOf(flags, int(b.NumRows())) {
		buf = append(buf, `{"before":`...)
		buf = row(buf, c.Before)
		buf = append(buf, `,"after":`...)
		buf = row(buf, c.After)
		buf = append(buf, `,"op":"`...)
		buf = append(buf, c.Op, '"', '}', '\n')
	}
	return buf
}

func encoderFor(t arrow.DataType) (appendFunc, error) {
	switch t := t.(type) {
	case *arrow.NullType:
		return func(buf []byte, _ arrow.Array, _ int) []byte { return append(buf, "null"...) }, nil
	case *arrow.BooleanType:
		return func(buf []byte, a arrow.Array, i int) []byte {
			return strconv.AppendBool(buf, a.(*array.Boolean).Value(i))
		}, nil
	case *arrow.Int8Type:
		return func(buf []byte, a arrow.Array, i int) []byte {
			return strconv.AppendInt(buf, int64(a.(*array.Int8).Value(i)), 10)
		}, nil
	case *arrow.Int16Type:
		return func(buf []byte, a arrow.Array, i int) []byte {
			return strconv.AppendInt(buf, int64(a.(*array.Int16).Value(i)), 10)
		}, nil
	case *arrow.Int32Type:
		return func(buf []byte, a arrow.Array, i int) []byte {
			return strconv.AppendInt(buf, int64(a.(*array.Int32).Value(i)), 10)
		}, nil
	case *arrow.Int64Type:
		return func(buf []byte, a arrow.Array, i int) []byte {
			return strconv.AppendInt(buf, a.(*array.Int64).Value(i), 10)
		}, nil
	case *arrow.Uint8Type:
		return func(buf []byte, a arrow.Array, i int) []byte {
			return strconv.AppendUint(buf, uint64(a.(*array.Uint8).Value(i)), 10)
		}, nil
	case *arrow.Uint16Type:
		return func(buf []byte, a arrow.Array, i int) []byte {
			return strconv.AppendUint(buf, uint64(a.(*array.Uint16).Value(i)), 10)
		}, nil
	case *arrow.Uint32Type:
		return func(buf []byte, a arrow.Array, i int) []byte {
			return strconv.AppendUint(buf, uint64(a.(*array.Uint32).Value(i)), 10)
		}, nil
	case *arrow.Uint64Type:
		return func(buf []byte, a arrow.Array, i int) []byte {
			return strconv.AppendUint(buf, a.(*array.Uint64).Value(i), 10)
		}, nil
	case *arrow.Float32Type:
		return func(buf []byte, a arrow.Array, i int) []byte {
			return appendFloat(buf, float64(a.(*array.Float32).Value(i)), 32)
		}, nil
	case *arrow.Float64Type:
		return func(buf []byte, a arrow.Array, i int) []byte {
			return appendFloat(buf, a.(*array.Float64).Value(i), 64)
		}, nil
	case *arrow.StringType:
		return func(buf []byte, a arrow.Array, i int) []byte { return appendString(buf, a.(*array.String).Value(i)) }, nil
	case *arrow.LargeStringType:
		return func(buf []byte, a arrow.Array, i int) []byte {
			return appendString(buf, a.(*array.LargeString).Value(i))
		}, nil
	case *arrow.BinaryType:
		return func(buf []byte, a arrow.Array, i int) []byte { return appendBase64(buf, a.(*array.Binary).Value(i)) }, nil
	case *arrow.LargeBinaryType:
		return func(buf []byte, a arrow.Array, i int) []byte {
			return appendBase64(buf, a.(*array.LargeBinary).Value(i))
		}, nil
	case *arrow.TimestampType:
		layout := layoutMicros
		if t.Unit == arrow.Nanosecond {
			layout = layoutNanos
		}
		unit := t.Unit
		return func(buf []byte, a arrow.Array, i int) []byte {
			buf = append(buf, '"')
			buf = a.(*array.Timestamp).Value(i).ToTime(unit).UTC().AppendFormat(buf, layout)
			return append(buf, '"')
		}, nil
	case *arrow.Date32Type:
		return func(buf []byte, a arrow.Array, i int) []byte {
			buf = append(buf, '"')
			buf = a.(*array.Date32).Value(i).ToTime().AppendFormat(buf, layoutDate)
			return append(buf, '"')
		}, nil
	case *arrow.StructType:
		keys := make([][]byte, t.NumFields())
		encs := make([]appendFunc, t.NumFields())
		for k, f := range t.Fields() {
			enc, err := encoderFor(f.Type)
			if err != nil {
				return nil, fmt.Errorf("field %q: %w", f.Name, err)
			}
			if k > 0 {
				keys[k] = append(keys[k], ',')
			}
			keys[k] = append(appendString(keys[k], f.Name), ':')
			encs[k] = enc
		}
		return func(buf []byte, a arrow.Array, i int) []byte {
			s := a.(*array.Struct)
			buf = append(buf, '{')
			for k, enc := range encs {
				buf = append(buf, keys[k]...)
				if f := s.Field(k); f.IsNull(i) {
					buf = append(buf, "null"...)
				} else {
					buf = enc(buf, f, i)
				}
			}
			return append(buf, '}')
		}, nil
	case *arrow.ListType:
		return listEncoder(t.Elem())
	case *arrow.LargeListType:
		return listEncoder(t.Elem())
	}
	return nil, fmt.Errorf("type %s is not supported in JSON", t)
}

func listEncoder(elem arrow.DataType) (appendFunc, error) {
	enc, err := encoderFor(elem)
	if err != nil {
		return nil, err
	}
	return func(buf []byte, a arrow.Array, i int) []byte {
		l := a.(array.ListLike)
		start, end := l.ValueOffsets(i)
		vals := l.ListValues()
		buf = append(buf, '[')
		for j := int(start); j < int(end); j++ {
			if j > int(start) {
				buf = append(buf, ',')
			}
			if vals.IsNull(j) {
				buf = append(buf, "null"...)
			} else {
				buf = enc(buf, vals, j)
			}
		}
		return append(buf, ']')
	}, nil
}

// appendFloat writes NaN and the infinities as the strings "NaN",
// "Infinity" and "-Infinity", which JSON numbers cannot express; the
// decoder reads them back.
func appendFloat(buf []byte, f float64, bits int) []byte {
	switch {
	case math.IsNaN(f):
		return append(buf, `"NaN"`...)
	case math.IsInf(f, 1):
		return append(buf, `"Infinity"`...)
	case math.IsInf(f, -1):
		return append(buf, `"-Infinity"`...)
	}
	return strconv.AppendFloat(buf, f, 'g', -1, bits)
}

func appendBase64(buf []byte, b []byte) []byte {
	buf = append(buf, '"')
	buf = base64.StdEncoding.AppendEncode(buf, b)
	return append(buf, '"')
}

const hexDigits = "0123456789abcdef"

// appendString quotes s as a JSON string; invalid UTF-8 becomes U+FFFD.
func appendString(buf []byte, s string) []byte {
	buf = append(buf, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' && c < utf8.RuneSelf {
			i++
			continue
		}
		buf = append(buf, s[start:i]...)
		if c < utf8.RuneSelf {
			switch c {
			case '"', '\\':
				buf = append(buf, '\\', c)
			case '\n':
				buf = append(buf, '\\', 'n')
			case '\r':
				buf = append(buf, '\\', 'r')
			case '\t':
				buf = append(buf, '\\', 't')
			default:
				buf = append(buf, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			buf = append(buf, `\ufffd`...)
		} else {
			buf = append(buf, s[i:i+size]...)
		}
		i += size
		start = i
	}
	buf = append(buf, s[start:]...)
	return append(buf, '"')
}
