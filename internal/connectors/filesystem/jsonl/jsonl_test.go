package jsonl

import (
	"encoding/json"
	"math"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

func TestStringsRoundTrip(t *testing.T) {
	in := []string{"", "a", `"`, `\`, "\x00\x1f\x7f", "\u2028\u2029", "日本語", "tab\there", "emoji 🎉"}
	fields := []arrow.Field{{Name: "s", Type: arrow.BinaryTypes.String, Nullable: true}}
	b := array.NewRecordBuilder(memory.DefaultAllocator, arrow.NewSchema(fields, nil))
	defer b.Release()
	b.Field(0).(*array.StringBuilder).AppendValues(in, nil)
	rec := b.NewRecordBatch()
	defer rec.Release()

	enc, err := NewEncoder(rec.Schema())
	if err != nil {
		t.Fatal(err)
	}
	out := enc.AppendBatch(nil, rec)
	dec, err := NewDecoder(fields)
	if err != nil {
		t.Fatal(err)
	}
	defer dec.Release()
	for i, line := range strings.Split(strings.TrimSuffix(string(out), "\n"), "\n") {
		if !json.Valid([]byte(line)) {
			t.Fatalf("line %d is not JSON: %s", i, line)
		}
		if err := dec.Append([]byte(line)); err != nil {
			t.Fatal(err)
		}
	}
	got := dec.NewBatch()
	defer got.Release()
	for i, want := range in {
		if v := got.Column(0).(*array.String).Value(i); v != want {
			t.Errorf("%q read back as %q", want, v)
		}
	}
}

func TestInvalidUTF8(t *testing.T) {
	if got := string(appendString(nil, "a\xffb")); got != `"a\ufffdb"` {
		t.Fatalf("got %s", got)
	}
}

func TestNumbers(t *testing.T) {
	fields := []arrow.Field{
		{Name: "i", Type: arrow.PrimitiveTypes.Int32, Nullable: true},
		{Name: "u", Type: arrow.PrimitiveTypes.Uint8, Nullable: true},
		{Name: "f", Type: arrow.PrimitiveTypes.Float64, Nullable: true},
	}
	dec, err := NewDecoder(fields)
	if err != nil {
		t.Fatal(err)
	}
	defer dec.Release()
	for _, tc := range []struct{ line, err string }{
		{`{"i":2147483647,"u":255,"f":1e5}`, ""},
		{`{"f":"Infinity"}`, ""},
		{`{"f":-0.5}`, ""},
		{`{"i":2147483648}`, `column "i": expected INT, got 2147483648`},
		{`{"u":-1}`, `column "u": expected UINT8, got -1`},
		{`{"i":"1"}`, `column "i": expected INT, got "1"`},
		{`{"f":"fast"}`, `column "f": expected DOUBLE, got "fast"`},
		{`{"f":true}`, `expected DOUBLE`},
		{`null`, `not a JSON object`},
	} {
		err := dec.Append([]byte(tc.line))
		if (err == nil) != (tc.err == "") || err != nil && !strings.Contains(err.Error(), tc.err) {
			t.Errorf("%s: got %v, want %q", tc.line, err, tc.err)
		}
	}
	b := dec.NewBatch()
	defer b.Release()
	if b.NumRows() != 3 {
		t.Fatalf("%d rows: a failed row must leave nothing behind", b.NumRows())
	}
	f := b.Column(2).(*array.Float64)
	if f.Value(0) != 1e5 || !math.IsInf(f.Value(1), 1) || f.Value(2) != -0.5 || !b.Column(0).IsNull(1) {
		t.Fatalf("got %v", b)
	}
}

func TestUnsupported(t *testing.T) {
	m := arrow.MapOf(arrow.BinaryTypes.String, arrow.PrimitiveTypes.Int64)
	if Check(m) == nil || CheckDecode(m) == nil {
		t.Fatal("map accepted")
	}
	if _, err := NewEncoder(arrow.NewSchema([]arrow.Field{{Name: "m", Type: m}}, nil)); err == nil || !strings.Contains(err.Error(), `column "m"`) {
		t.Fatalf("got %v", err)
	}
}
