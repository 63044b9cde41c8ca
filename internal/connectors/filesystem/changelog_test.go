package filesystem

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/runnel-dev/runnel/internal/connectors"
	"github.com/runnel-dev/runnel/internal/engine"
)

// debezium_json is a sink-only format that takes changelogs; json and
// parquet tables take append-only queries.
func TestDebeziumTable(t *testing.T) {
	cols := []connectors.Column{{Name: "k", Type: arrow.BinaryTypes.String}, {Name: "n", Type: arrow.PrimitiveTypes.Int64}}
	for format, updating := range map[string]bool{"json": false, "parquet": false, "debezium_json": true, "DEBEZIUM_JSON": true} {
		tbl, err := Connector{}.NewTable(connectors.TableSpec{Name: "t", Columns: cols, Options: opts("path", t.TempDir(), "format", format)})
		if err != nil {
			t.Fatalf("%s: %v", format, err)
		}
		if tbl.Updating != updating {
			t.Errorf("%s: Updating = %v", format, tbl.Updating)
		}
		if updating && tbl.NewSource != nil {
			t.Errorf("%s: a debezium_json table cannot be read", format)
		}
	}

	dir := t.TempDir()
	tbl, err := Connector{}.NewTable(connectors.TableSpec{Name: "t", Options: opts("path", dir, "format", "debezium_json")})
	if err != nil {
		t.Fatal(err)
	}
	schema := connectors.SchemaOf(append(cols, connectors.Column{Name: engine.RetractField, Type: arrow.FixedWidthTypes.Boolean}))
	bld := array.NewRecordBuilder(memory.DefaultAllocator, schema)
	defer bld.Release()
	bld.Field(0).(*array.StringBuilder).AppendValues([]string{"a", "a", "b"}, nil)
	bld.Field(1).(*array.Int64Builder).AppendValues([]int64{1, 2, 5}, nil)
	bld.Field(2).(*array.BooleanBuilder).AppendValues([]bool{true, false, false}, nil)
	bld.Field(3).(*array.TimestampBuilder).AppendValues([]arrow.Timestamp{1, 1, 2}, nil)
	b := bld.NewRecordBatch()
	defer b.Release()
	op, err := tbl.NewSink(schema)(engine.TaskInfo{RunID: 1})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := op.Process(ctx, b, nil); err != nil {
		t.Fatal(err)
	}
	if err := op.Finish(ctx, nil); err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*.jsonl"))
	if len(files) != 1 {
		t.Fatalf("files %v", files)
	}
	got, err := os.ReadFile(files[0])
	if err != nil {
		t.Fatal(err)
	}
	want := `{"before":{"k":"a","n":1},"after":{"k":"a","n":2},"op":"u"}` + "\n" +
		`{"before":null,"after":{"k":"b","n":5},"op":"c"}` + "\n"
	if string(got) != want {
		t.Fatalf("got\n%s\nwant\n%s", got, want)
	}
}
