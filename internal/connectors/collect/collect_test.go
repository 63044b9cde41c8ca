package collect

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/runnel-dev/runnel/internal/connectors"
	"github.com/runnel-dev/runnel/internal/engine"
)

// Rows of an updating query come out as before/after/op changes; others
// as plain rows.
func TestChanges(t *testing.T) {
	c := New()
	tbl, err := c.NewTable(connectors.TableSpec{Name: "out"})
	if err != nil {
		t.Fatal(err)
	}
	if !tbl.Updating {
		t.Fatal("collect must take updating queries")
	}
	cols := []connectors.Column{{Name: "k", Type: arrow.PrimitiveTypes.Int64}}
	build := func(schema *arrow.Schema, flags []bool) arrow.RecordBatch {
		bld := array.NewRecordBuilder(memory.DefaultAllocator, schema)
		defer bld.Release()
		for i := range 3 {
			bld.Field(0).(*array.Int64Builder).Append(int64(i))
			if flags != nil {
				bld.Field(1).(*array.BooleanBuilder).Append(flags[i])
			}
			bld.Field(schema.NumFields() - 1).(*array.TimestampBuilder).Append(0)
		}
		return bld.NewRecordBatch()
	}
	upd := connectors.SchemaOf(append(cols, connectors.Column{Name: engine.RetractField, Type: arrow.FixedWidthTypes.Boolean}))
	for _, b := range []arrow.RecordBatch{build(upd, []bool{true, false, true}), build(connectors.SchemaOf(cols), nil)} {
		op, err := tbl.NewSink(b.Schema())(engine.TaskInfo{})
		if err != nil {
			t.Fatal(err)
		}
		if err := op.Process(context.Background(), b, nil); err != nil {
			t.Fatal(err)
		}
		b.Release()
	}
	got, err := json.Marshal(c.Rows())
	if err != nil {
		t.Fatal(err)
	}
	want := `[{"after":{"k":1},"before":{"k":0},"op":"u"},{"after":null,"before":{"k":2},"op":"d"},{"k":0},{"k":1},{"k":2}]`
	if string(got) != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
}
