package filesystem

import (
	"context"
	"errors"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/runnel-dev/runnel/internal/connectors"
	"github.com/runnel-dev/runnel/internal/engine"
	"github.com/runnel-dev/runnel/internal/engine/expr"
)

var ts = expr.Timestamp

// allColumns covers every type the planner has, each nullable, plus
// NOT NULL and the nested and narrow types files can hold.
var allColumns = []connectors.Column{
	{Name: "i64", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
	{Name: "i32", Type: arrow.PrimitiveTypes.Int32, Nullable: true},
	{Name: "f64", Type: arrow.PrimitiveTypes.Float64, Nullable: true},
	{Name: "s", Type: arrow.BinaryTypes.String, Nullable: true},
	{Name: "b", Type: arrow.FixedWidthTypes.Boolean, Nullable: true},
	{Name: "ts", Type: ts, Nullable: true},
	{Name: "id", Type: arrow.PrimitiveTypes.Int64, Nullable: false},
	{Name: "i8", Type: arrow.PrimitiveTypes.Int8, Nullable: true},
	{Name: "u64", Type: arrow.PrimitiveTypes.Uint64, Nullable: true},
	{Name: "f32", Type: arrow.PrimitiveTypes.Float32, Nullable: true},
	{Name: "d", Type: arrow.FixedWidthTypes.Date32, Nullable: true},
	{Name: "bin", Type: arrow.BinaryTypes.Binary, Nullable: true},
	{Name: "tsn", Type: &arrow.TimestampType{Unit: arrow.Nanosecond}, Nullable: true},
	{Name: "st", Type: arrow.StructOf(
		arrow.Field{Name: "x", Type: arrow.PrimitiveTypes.Int64},
		arrow.Field{Name: "y", Type: arrow.BinaryTypes.String, Nullable: true},
	), Nullable: true},
	{Name: "l", Type: arrow.ListOf(arrow.PrimitiveTypes.Int64), Nullable: true},
}

// testBatch builds rows of allColumns (with the event-time column), with
// nulls, extremes, escapes and sub-microsecond detail.
func testBatch(t testing.TB, rows int, base int64) arrow.RecordBatch {
	t.Helper()
	schema := connectors.SchemaOf(allColumns)
	b := array.NewRecordBuilder(memory.DefaultAllocator, schema)
	defer b.Release()
	for r := 0; r < rows; r++ {
		null := r%5 == 3
		id := base + int64(r)
		app := func(i int, f func(array.Builder)) {
			if null {
				b.Field(i).AppendNull()
				return
			}
			f(b.Field(i))
		}
		app(0, func(x array.Builder) {
			x.(*array.Int64Builder).Append([]int64{math.MaxInt64, math.MinInt64, 0, id}[r%4])
		})
		app(1, func(x array.Builder) { x.(*array.Int32Builder).Append(int32(-r)) })
		app(2, func(x array.Builder) {
			x.(*array.Float64Builder).Append([]float64{0.1, math.Inf(-1), math.NaN(), 1e300, math.Copysign(0, -1), 3}[r%6])
		})
		app(3, func(x array.Builder) {
			x.(*array.StringBuilder).Append([]string{"", "plain", "quote\" back\\ nl\n tab\t ctl\x01", "ünïcødé ✓", "a,b"}[r%5])
		})
		app(4, func(x array.Builder) { x.(*array.BooleanBuilder).Append(r%2 == 0) })
		app(5, func(x array.Builder) {
			x.(*array.TimestampBuilder).Append(arrow.Timestamp(1_700_000_000_123_456 + int64(r)*1_000_001))
		})
		b.Field(6).(*array.Int64Builder).Append(id)
		app(7, func(x array.Builder) { x.(*array.Int8Builder).Append(int8(r - 128)) })
		app(8, func(x array.Builder) { x.(*array.Uint64Builder).Append(math.MaxUint64 - uint64(r)) })
		app(9, func(x array.Builder) { x.(*array.Float32Builder).Append(float32(r) / 3) })
		app(10, func(x array.Builder) { x.(*array.Date32Builder).Append(arrow.Date32(19000 + r)) })
		app(11, func(x array.Builder) { x.(*array.BinaryBuilder).Append([]byte{0, 1, byte(r), 255}) })
		app(12, func(x array.Builder) {
			x.(*array.TimestampBuilder).Append(arrow.Timestamp(-1_000_000_007 + int64(r)))
		})
		app(13, func(x array.Builder) {
			sb := x.(*array.StructBuilder)
			sb.Append(true)
			sb.FieldBuilder(0).(*array.Int64Builder).Append(id * 10)
			if r%2 == 0 {
				sb.FieldBuilder(1).AppendNull()
			} else {
				sb.FieldBuilder(1).(*array.StringBuilder).Append("y")
			}
		})
		app(14, func(x array.Builder) {
			lb := x.(*array.ListBuilder)
			lb.Append(true)
			for k := 0; k < r%3; k++ {
				lb.ValueBuilder().(*array.Int64Builder).Append(int64(k))
			}
			if r%4 == 1 {
				lb.ValueBuilder().AppendNull()
			}
		})
		b.Field(15).(*array.TimestampBuilder).Append(arrow.Timestamp(id))
	}
	return b.NewRecordBatch()
}

func newTable(t testing.TB, cols []connectors.Column, kv ...string) *connectors.Table {
	t.Helper()
	tbl, err := Connector{}.NewTable(connectors.TableSpec{Name: "t", Columns: cols, Options: opts(kv...)})
	if err != nil {
		t.Fatalf("NewTable: %v", err)
	}
	return tbl
}

func opts(kv ...string) *connectors.Options {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return connectors.NewOptions(m)
}

// write sends batches to subtask i of a sink table, batches[i] to subtask
// i, and finishes every subtask.
func write(t testing.TB, tbl *connectors.Table, schema *arrow.Schema, batches ...[]arrow.RecordBatch) {
	t.Helper()
	mk := tbl.NewSink(schema)
	for i, bs := range batches {
		op, err := mk(engine.TaskInfo{Subtask: i, Parallelism: len(batches), RunID: 7})
		if err != nil {
			t.Fatal(err)
		}
		for _, b := range bs {
			if err := op.Process(context.Background(), b, nil); err != nil {
				t.Fatal(err)
			}
		}
		if err := op.Finish(context.Background(), nil); err != nil {
			t.Fatal(err)
		}
		if err := op.(engine.Closer).Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// read runs every subtask of a source table and returns the batches of
// each.
func read(t testing.TB, tbl *connectors.Table, par int) ([][]arrow.RecordBatch, error) {
	t.Helper()
	out := make([][]arrow.RecordBatch, par)
	errs := make([]error, par)
	var wg sync.WaitGroup
	for s := 0; s < par; s++ {
		src, err := tbl.NewSource(engine.TaskInfo{Subtask: s, Parallelism: par})
		if err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[s] = src.Run(context.Background(), make(chan struct{}), engine.CollectorFunc(func(_ context.Context, b arrow.RecordBatch) error {
				if err := array.ValidateRecordFull(b); err != nil {
					return err
				}
				b.Retain()
				out[s] = append(out[s], b)
				return nil
			}))
		}()
	}
	wg.Wait()
	t.Cleanup(func() {
		for _, bs := range out {
			for _, b := range bs {
				b.Release()
			}
		}
	})
	return out, errors.Join(errs...)
}

// concat joins batches (dropping the event-time column unless keepTS).
func concat(t testing.TB, bs []arrow.RecordBatch, keepTS bool) arrow.RecordBatch {
	t.Helper()
	if len(bs) == 0 {
		t.Fatal("no batches")
	}
	var recs []arrow.RecordBatch
	for _, b := range bs {
		if !keepTS {
			b = dropTS(b)
			defer b.Release()
		}
		recs = append(recs, b)
	}
	cols := make([]arrow.Array, recs[0].NumCols())
	for c := range cols {
		parts := make([]arrow.Array, len(recs))
		for i, r := range recs {
			parts[i] = r.Column(c)
		}
		a, err := array.Concatenate(parts, memory.DefaultAllocator)
		if err != nil {
			t.Fatal(err)
		}
		defer a.Release()
		cols[c] = a
	}
	var n int64
	for _, r := range recs {
		n += r.NumRows()
	}
	return array.NewRecordBatch(recs[0].Schema(), cols, n)
}

func dropTS(b arrow.RecordBatch) arrow.RecordBatch {
	idx := b.Schema().FieldIndices(engine.TimestampField)
	if len(idx) == 0 {
		b.Retain()
		return b
	}
	fields := slices.Delete(slices.Clone(b.Schema().Fields()), idx[0], idx[0]+1)
	cols := slices.Delete(slices.Clone(b.Columns()), idx[0], idx[0]+1)
	return array.NewRecordBatch(arrow.NewSchema(fields, nil), cols, b.NumRows())
}

func assertEqual(t testing.TB, got, want arrow.RecordBatch) {
	t.Helper()
	if !got.Schema().Equal(want.Schema()) {
		t.Fatalf("schema\n got %s\nwant %s", got.Schema(), want.Schema())
	}
	if got.NumRows() != want.NumRows() {
		t.Fatalf("%d rows, want %d", got.NumRows(), want.NumRows())
	}
	for c := 0; c < int(want.NumCols()); c++ {
		// NaN != NaN for Equal; ApproxEqual with NaNsEqual is exact otherwise.
		if !array.ApproxEqual(got.Column(c), want.Column(c), array.WithNaNsEqual(true), array.WithAbsTolerance(0)) {
			t.Fatalf("column %s differs:\n got %v\nwant %v", want.Schema().Field(c).Name, got.Column(c), want.Column(c))
		}
	}
}

func TestRoundTrip(t *testing.T) {
	for _, format := range []string{"json", "parquet"} {
		t.Run(format, func(t *testing.T) {
			dir := t.TempDir()
			tbl := newTable(t, allColumns, "path", dir, "format", format)
			b1, b2, b3 := testBatch(t, 37, 0), testBatch(t, 5, 1000), testBatch(t, 11, 2000)
			defer b1.Release()
			defer b2.Release()
			defer b3.Release()
			write(t, tbl, connectors.SchemaOf(allColumns), []arrow.RecordBatch{b1, b2}, nil, []arrow.RecordBatch{b3})

			ext := map[string]string{"json": ".jsonl", "parquet": ".parquet"}[format]
			entries, _ := os.ReadDir(dir)
			var names []string
			for _, e := range entries {
				names = append(names, e.Name())
			}
			// Subtask 1 received nothing, so wrote nothing.
			if want := []string{"part-00000-7" + ext, "part-00002-7" + ext}; !slices.Equal(names, want) {
				t.Fatalf("files %v, want %v", names, want)
			}

			bs, err := read(t, newTable(t, allColumns, "path", dir, "format", format), 1)
			if err != nil {
				t.Fatal(err)
			}
			got := concat(t, bs[0], false)
			defer got.Release()
			want := concat(t, []arrow.RecordBatch{b1, b2, b3}, false)
			defer want.Release()
			assertEqual(t, got, want)

			// Two subtasks split the two files between them.
			bs, err = read(t, newTable(t, allColumns, "path", dir, "format", format), 2)
			if err != nil {
				t.Fatal(err)
			}
			if len(bs[0]) == 0 || len(bs[1]) == 0 {
				t.Fatalf("files not split: %d and %d batches", len(bs[0]), len(bs[1]))
			}
			g0, g1 := concat(t, bs[0], false), concat(t, bs[1], false)
			defer g0.Release()
			defer g1.Release()
			if g0.NumRows() != 42 || g1.NumRows() != 11 {
				t.Fatalf("subtasks read %d and %d rows", g0.NumRows(), g1.NumRows())
			}
		})
	}
}

func TestParquetInferredSchema(t *testing.T) {
	dir := t.TempDir()
	b := testBatch(t, 3, 0) // no nulls in the first rows: tsn is the event time
	defer b.Release()
	write(t, newTable(t, nil, "path", dir, "format", "parquet"), b.Schema(), []arrow.RecordBatch{b})

	tbl := newTable(t, nil, "path", dir, "format", "parquet", "event_time_field", "tsn")
	if len(tbl.Columns) != len(allColumns) {
		t.Fatalf("inferred %d columns", len(tbl.Columns))
	}
	for i, c := range tbl.Columns {
		want := allColumns[i]
		if want.Type.ID() == arrow.TIMESTAMP {
			want.Type = ts // timestamps are read as the planner's TIMESTAMP
		}
		if c.Name != want.Name || !arrow.TypeEqual(c.Type, want.Type) || c.Nullable != want.Nullable {
			t.Errorf("column %d: %+v, want %+v", i, c, want)
		}
	}
	bs, err := read(t, tbl, 1)
	if err != nil {
		t.Fatal(err)
	}
	got := concat(t, bs[0], true)
	defer got.Release()
	tsn := got.Column(12).(*array.Timestamp)
	evt := got.Column(got.Schema().FieldIndices(engine.TimestampField)[0]).(*array.Timestamp)
	for r := 0; r < int(got.NumRows()); r++ {
		// -1_000_000_007 ns + r, cast to µs (truncated towards zero).
		want := (-1_000_000_007 + int64(r)) / 1000
		if int64(tsn.Value(r)) != want || int64(evt.Value(r)) != want {
			t.Fatalf("row %d: ts %d, event time %d, want %d", r, tsn.Value(r), evt.Value(r), want)
		}
	}
}

func TestJSONFormat(t *testing.T) {
	dir := t.TempDir()
	b := testBatch(t, 4, 0)
	defer b.Release()
	write(t, newTable(t, nil, "path", dir, "format", "json"), b.Schema(), []arrow.RecordBatch{b})
	data, err := os.ReadFile(filepath.Join(dir, "part-00000-7.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
	if len(lines) != 4 {
		t.Fatalf("%d lines", len(lines))
	}
	want := `{"i64":9223372036854775807,"i32":0,"f64":0.1,"s":"","b":true,"ts":"2023-11-14T22:13:20.123456Z","id":0,"i8":-128,` +
		`"u64":18446744073709551615,"f32":0,"d":"2022-01-08","bin":"AAEA/w==","tsn":"1969-12-31T23:59:58.999999993Z","st":{"x":0,"y":null},"l":[]}`
	if lines[0] != want {
		t.Fatalf("line 1:\n got %s\nwant %s", lines[0], want)
	}
	if !strings.Contains(lines[2], `"f64":"NaN"`) || !strings.Contains(lines[2], `"s":"quote\" back\\ nl\n tab\t ctl\u0001"`) {
		t.Fatalf("line 3: %s", lines[2])
	}
	if !strings.Contains(lines[1], `"f64":"-Infinity"`) || !strings.Contains(lines[1], `"l":[0,null]`) {
		t.Fatalf("line 2: %s", lines[1])
	}
	if strings.Contains(string(data), engine.TimestampField) {
		t.Fatal("the event-time column was written")
	}
}

func TestNoPartialFiles(t *testing.T) {
	for _, format := range []string{"json", "parquet"} {
		t.Run(format, func(t *testing.T) {
			dir := t.TempDir()
			tbl := newTable(t, allColumns, "path", dir, "format", format)
			b := testBatch(t, 10, 0)
			defer b.Release()
			op, err := tbl.NewSink(b.Schema())(engine.TaskInfo{RunID: 3})
			if err != nil {
				t.Fatal(err)
			}
			sink := op.(*Sink)
			if err := sink.Process(context.Background(), b, nil); err != nil {
				t.Fatal(err)
			}
			visible := func() []string {
				bs, err := read(t, tbl, 1)
				if err != nil {
					t.Fatal(err)
				}
				var names []string
				entries, _ := os.ReadDir(dir)
				for _, e := range entries {
					names = append(names, e.Name())
				}
				if len(bs[0]) > 0 && !slices.ContainsFunc(names, func(n string) bool { return strings.HasPrefix(n, "part-") }) {
					t.Fatal("source read a temporary file")
				}
				return names
			}
			if names := visible(); len(names) != 1 || !strings.HasPrefix(names[0], ".") {
				t.Fatalf("while writing: %v", names)
			}
			p, err := sink.Flush(context.Background())
			if err != nil || p == nil {
				t.Fatal(p, err)
			}
			// Flushed but not committed: durable, still hidden.
			if _, err := os.Stat(p.Final); !os.IsNotExist(err) {
				t.Fatalf("final file visible before commit: %v", err)
			}
			if err := sink.Publish(context.Background(), *p); err != nil {
				t.Fatal(err)
			}
			if names := visible(); !slices.Equal(names, []string{filepath.Base(p.Final)}) {
				t.Fatalf("after commit: %v", names)
			}
			if err := sink.Close(); err != nil {
				t.Fatal(err)
			}

			// A run that ends without Finish (failure, immediate stop)
			// leaves nothing.
			dir2 := t.TempDir()
			op, err = newTable(t, allColumns, "path", dir2, "format", format).NewSink(b.Schema())(engine.TaskInfo{})
			if err != nil {
				t.Fatal(err)
			}
			if err := op.Process(context.Background(), b, nil); err != nil {
				t.Fatal(err)
			}
			if err := op.(engine.Closer).Close(); err != nil {
				t.Fatal(err)
			}
			if entries, _ := os.ReadDir(dir2); len(entries) != 0 {
				t.Fatalf("aborted sink left %v", entries)
			}
		})
	}
}

func TestBadJSONInput(t *testing.T) {
	cols := []connectors.Column{
		{Name: "id", Type: arrow.PrimitiveTypes.Int64},
		{Name: "name", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "at", Type: ts, Nullable: true},
	}
	for _, tc := range []struct{ body, want string }{
		{`{"id":1}` + "\n" + `{"id":"x"}`, `line 2: column "id": expected BIGINT, got "x"`},
		{`{"id":1.5}`, `line 1: column "id": expected BIGINT, got 1.5`},
		{`{"id":1}` + "\n\n" + `{"id":2,`, `line 3: invalid JSON`},
		{`[1,2]`, `line 1: not a JSON object`},
		{`{"name":"a"}`, `line 1: column "id" is missing and may not be null`},
		{`{"id":null}`, `line 1: column "id" may not be null`},
		{`{"id":1,"name":5}`, `line 1: column "name": expected TEXT, got 5`},
		{`{"id":1,"at":"noon"}`, `line 1: column "at": expected an RFC 3339 timestamp`},
		{`{"id":99999999999999999999}`, `expected BIGINT`},
	} {
		dir := t.TempDir()
		path := filepath.Join(dir, "in.jsonl")
		if err := os.WriteFile(path, []byte(tc.body), 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := read(t, newTable(t, cols, "path", dir, "format", "json"), 1)
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), path) {
			t.Errorf("%q: got %v, want an error naming %s and containing %q", tc.body, err, path, tc.want)
		}
	}

	// Extra keys are ignored, missing nullable ones are null, blank lines
	// skipped.
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "a.json"), []byte("{\"id\":1,\"extra\":[1]}\n\n  \n{\"id\":2,\"name\":\"n\",\"at\":\"2024-01-02 03:04:05\"}\n"), 0o644)
	_, err := read(t, newTable(t, cols, "path", dir, "format", "json", "event_time_field", "at"), 1)
	if err == nil || !strings.Contains(err.Error(), "a.json line 1: event time column 'at' is null") {
		t.Fatalf("null event time: %v", err)
	}
	bs, err := read(t, newTable(t, cols, "path", filepath.Join(dir, "a.json"), "format", "json"), 1)
	if err != nil {
		t.Fatal(err)
	}
	got := concat(t, bs[0], false)
	defer got.Release()
	if got.NumRows() != 2 || !got.Column(1).IsNull(0) || got.Column(1).(*array.String).Value(1) != "n" ||
		got.Column(2).(*array.Timestamp).Value(1) != arrow.Timestamp(time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC).UnixMicro()) {
		t.Fatalf("got %v", got)
	}
}

func TestBadParquetInput(t *testing.T) {
	dir := t.TempDir()
	b := testBatch(t, 5, 0)
	defer b.Release()
	write(t, newTable(t, nil, "path", dir, "format", "parquet"), b.Schema(), []arrow.RecordBatch{b})
	_, err := read(t, newTable(t, []connectors.Column{{Name: "nope", Type: arrow.PrimitiveTypes.Int64}}, "path", dir, "format", "parquet"), 1)
	if err == nil || !strings.Contains(err.Error(), "has no column 'nope'") || !strings.Contains(err.Error(), "part-00000-7.parquet") {
		t.Fatalf("missing column: %v", err)
	}
	_, err = read(t, newTable(t, []connectors.Column{{Name: "s", Type: arrow.FixedWidthTypes.Boolean}}, "path", dir, "format", "parquet"), 1)
	if err == nil || !strings.Contains(err.Error(), "column 's' is utf8 and cannot be read as BOOLEAN") {
		t.Fatalf("bad cast: %v", err)
	}
	_, err = read(t, newTable(t, []connectors.Column{{Name: "i64", Type: arrow.PrimitiveTypes.Int64}}, "path", dir, "format", "parquet"), 1)
	if err == nil || !strings.Contains(err.Error(), "column 'i64' is NOT NULL but has nulls") {
		t.Fatalf("nulls: %v", err)
	}
	// A narrower declared type is read by a checked cast.
	bs, err := read(t, newTable(t, []connectors.Column{{Name: "i8", Type: arrow.PrimitiveTypes.Int64, Nullable: true}}, "path", dir, "format", "parquet"), 1)
	if err != nil {
		t.Fatal(err)
	}
	if v := bs[0][0].Column(0).(*array.Int64).Value(1); v != -127 {
		t.Fatalf("cast value %d", v)
	}
	os.WriteFile(filepath.Join(dir, "zz.parquet"), []byte("not parquet"), 0o644)
	_, err = read(t, newTable(t, allColumns[:1], "path", dir, "format", "parquet"), 1)
	if err == nil || !strings.Contains(err.Error(), "zz.parquet: not a Parquet file") {
		t.Fatalf("junk file: %v", err)
	}
	_, err = read(t, newTable(t, allColumns[:1], "path", filepath.Join(dir, "missing"), "format", "parquet"), 1)
	if err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Fatalf("missing path: %v", err)
	}
}

func TestListFiles(t *testing.T) {
	dir := t.TempDir()
	for _, n := range []string{"b.jsonl", "a.json", "c.ndjson", "x.parquet", ".hidden.jsonl", "_SUCCESS", ".part-0.jsonl.tmp", "sub/d.jsonl", "_tmp/e.jsonl", "notes.txt"} {
		p := filepath.Join(dir, n)
		os.MkdirAll(filepath.Dir(p), 0o755)
		os.WriteFile(p, nil, 0o644)
	}
	files, err := listFiles(dir, FormatJSON)
	if err != nil {
		t.Fatal(err)
	}
	var rel []string
	for _, f := range files {
		r, _ := filepath.Rel(dir, f)
		rel = append(rel, r)
	}
	if want := []string{"a.json", "b.jsonl", "c.ndjson", "sub/d.jsonl"}; !slices.Equal(rel, want) {
		t.Fatalf("files %v, want %v", rel, want)
	}
}

func TestEventTimeAndIngestionTime(t *testing.T) {
	dir := t.TempDir()
	b := testBatch(t, 6, 0)
	defer b.Release()
	write(t, newTable(t, nil, "path", dir, "format", "json"), b.Schema(), []arrow.RecordBatch{b})
	cols := []connectors.Column{{Name: "id", Type: arrow.PrimitiveTypes.Int64}, {Name: "ts", Type: ts, Nullable: true}}

	before := time.Now().UnixMicro()
	bs, err := read(t, newTable(t, cols, "path", dir, "format", "json"), 1)
	if err != nil {
		t.Fatal(err)
	}
	evt := bs[0][0].Column(2).(*array.Timestamp)
	if v := int64(evt.Value(0)); v < before || v > time.Now().UnixMicro() {
		t.Fatalf("ingestion time %d not now", v)
	}

	// Row 3 has a null ts: event time must not be taken from it.
	_, err = read(t, newTable(t, cols, "path", dir, "format", "json", "event_time_field", "ts"), 1)
	if err == nil || !strings.Contains(err.Error(), "line 4: event time column 'ts' is null") {
		t.Fatalf("null event time: %v", err)
	}
}

func TestStop(t *testing.T) {
	dir := t.TempDir()
	b := testBatch(t, 10, 0)
	defer b.Release()
	tbl := newTable(t, allColumns, "path", dir, "format", "json")
	write(t, tbl, b.Schema(), []arrow.RecordBatch{b}, []arrow.RecordBatch{b}, []arrow.RecordBatch{b})
	src, _ := tbl.NewSource(engine.TaskInfo{Parallelism: 1})
	stop := make(chan struct{})
	n := 0
	err := src.Run(context.Background(), stop, engine.CollectorFunc(func(context.Context, arrow.RecordBatch) error {
		n++
		close(stop)
		return nil
	}))
	if err != nil || n != 1 {
		t.Fatalf("err %v after %d batches", err, n)
	}
}

func TestOptionErrors(t *testing.T) {
	cols := []connectors.Column{{Name: "id", Type: arrow.PrimitiveTypes.Int64}, {Name: "ts", Type: ts}}
	for _, tc := range []struct {
		kv   []string
		cols []connectors.Column
		key  string
	}{
		{[]string{"format", "json"}, cols, "path"},
		{[]string{"path", "", "format", "json"}, cols, "path"},
		{[]string{"path", "/tmp/x"}, cols, "format"},
		{[]string{"path", "/tmp/x", "format", "csv"}, cols, "format"},
		{[]string{"path", "/tmp/x", "format", "json", "event_time_field", "nope"}, cols, "event_time_field"},
		{[]string{"path", "/tmp/x", "format", "json", "event_time_field", "id"}, cols, "event_time_field"},
		{[]string{"path", "/tmp/x", "format", "json", "event_time_field", "id"}, nil, "event_time_field"},
	} {
		_, err := Connector{}.NewTable(connectors.TableSpec{Name: "t", Columns: tc.cols, Options: opts(tc.kv...)})
		var oe *connectors.OptionError
		if !errors.As(err, &oe) || oe.Key != tc.key {
			t.Errorf("%v: got %v, want an option error on %s", tc.kv, err, tc.key)
		}
	}
	o := opts("path", "/tmp/x", "format", "JSON", "compression", "zstd")
	tbl, err := Connector{}.NewTable(connectors.TableSpec{Name: "t", Options: o})
	if err != nil {
		t.Fatal(err)
	}
	if u := o.Unused(); !slices.Equal(u, []string{"compression"}) {
		t.Fatalf("unused %v", u)
	}
	if tbl.NewSource != nil || tbl.NewSink == nil {
		t.Fatal("a JSON table without columns is a sink only")
	}
	_, err = Connector{}.NewTable(connectors.TableSpec{Name: "t", Options: opts("path", "/tmp/x", "format", "json"),
		Columns: []connectors.Column{{Name: "m", Type: arrow.MapOf(arrow.BinaryTypes.String, arrow.BinaryTypes.String)}}})
	if err == nil || !strings.Contains(err.Error(), "not supported in JSON") {
		t.Fatalf("map column: %v", err)
	}
	d := Connector{}.Descriptor()
	if d.ID != "filesystem" || !d.Source || !d.Sink {
		t.Fatalf("%+v", d)
	}
	if _, ok := connectors.Default().Lookup(ID); !ok {
		t.Fatal("not registered")
	}
}
