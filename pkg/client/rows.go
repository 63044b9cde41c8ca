package client

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"
)

// Row is one output row with its columns in the order the server wrote
// them (the query's select list), which a map would lose.
type Row struct {
	Columns []string
	// Values holds the decoded JSON values: nil, bool, string,
	// json.Number (so that 64-bit integers survive), []any or
	// map[string]any.
	Values []any
}

// Get returns the value of the named column.
func (r Row) Get(column string) (any, bool) {
	for i, c := range r.Columns {
		if c == column {
			return r.Values[i], true
		}
	}
	return nil, false
}

// MarshalJSON encodes the row as an object with its columns in order.
func (r Row) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, c := range r.Columns {
		if i > 0 {
			b.WriteByte(',')
		}
		k, err := json.Marshal(c)
		if err != nil {
			return nil, err
		}
		v, err := json.Marshal(r.Values[i])
		if err != nil {
			return nil, fmt.Errorf("column %s: %w", c, err)
		}
		b.Write(k)
		b.WriteByte(':')
		b.Write(v)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// Rows decodes the batch into rows, keeping the column order.
func (d OutputData) Rows() ([]Row, error) {
	dec := json.NewDecoder(strings.NewReader(d.Batch))
	dec.UseNumber()
	if err := expectDelim(dec, '['); err != nil {
		return nil, fmt.Errorf("batch of %s: %w", d.OperatorID, err)
	}
	var rows []Row
	for dec.More() {
		if err := expectDelim(dec, '{'); err != nil {
			return nil, fmt.Errorf("batch of %s, row %d: %w", d.OperatorID, len(rows), err)
		}
		var r Row
		for dec.More() {
			tok, err := dec.Token()
			if err != nil {
				return nil, fmt.Errorf("batch of %s, row %d: %w", d.OperatorID, len(rows), err)
			}
			key, _ := tok.(string) // object keys are always strings
			var v any
			if err := dec.Decode(&v); err != nil {
				return nil, fmt.Errorf("batch of %s, row %d, column %s: %w", d.OperatorID, len(rows), key, err)
			}
			r.Columns = append(r.Columns, key)
			r.Values = append(r.Values, v)
		}
		if err := expectDelim(dec, '}'); err != nil {
			return nil, fmt.Errorf("batch of %s, row %d: %w", d.OperatorID, len(rows), err)
		}
		rows = append(rows, r)
	}
	if err := expectDelim(dec, ']'); err != nil {
		return nil, fmt.Errorf("batch of %s: %w", d.OperatorID, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("batch of %s: trailing data after the array", d.OperatorID)
	}
	return rows, nil
}

func expectDelim(dec *json.Decoder, want json.Delim) error {
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	if d, ok := tok.(json.Delim); !ok || d != want {
		return fmt.Errorf("expected %q, found %v", want, tok)
	}
	return nil
}
