package stdout_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/runnel-dev/runnel/internal/connectors"
	"github.com/runnel-dev/runnel/internal/connectors/impulse"
	"github.com/runnel-dev/runnel/internal/connectors/stdout"
	"github.com/runnel-dev/runnel/internal/engine"
	"github.com/runnel-dev/runnel/internal/sql"
)

// With format debezium_json the sink writes one change per line, pairing
// a retraction with the append after it.
func TestDebeziumFormat(t *testing.T) {
	var out syncBuffer
	tbl, err := stdout.New(&out).NewTable(connectors.TableSpec{Name: "o", Options: connectors.NewOptions(map[string]string{"format": "debezium_json"})})
	if err != nil {
		t.Fatal(err)
	}
	if !tbl.Updating {
		t.Fatal("a debezium_json table must take updating queries")
	}
	schema := connectors.SchemaOf([]connectors.Column{
		{Name: "k", Type: arrow.BinaryTypes.String},
		{Name: "n", Type: arrow.PrimitiveTypes.Int64},
		{Name: engine.RetractField, Type: arrow.FixedWidthTypes.Boolean},
	})
	bld := array.NewRecordBuilder(memory.DefaultAllocator, schema)
	defer bld.Release()
	bld.Field(0).(*array.StringBuilder).AppendValues([]string{"a", "b", "b", "c"}, nil)
	bld.Field(1).(*array.Int64Builder).AppendValues([]int64{1, 1, 2, 7}, nil)
	bld.Field(2).(*array.BooleanBuilder).AppendValues([]bool{false, true, false, true}, nil)
	bld.Field(3).(*array.TimestampBuilder).AppendValues([]arrow.Timestamp{1, 2, 3, 4}, nil)
	b := bld.NewRecordBatch()
	defer b.Release()
	op, err := tbl.NewSink(schema)(engine.TaskInfo{})
	if err != nil {
		t.Fatal(err)
	}
	if err := op.Process(context.Background(), b, nil); err != nil {
		t.Fatal(err)
	}
	want := `{"before":null,"after":{"k":"a","n":1},"op":"c"}` + "\n" +
		`{"before":{"k":"b","n":1},"after":{"k":"b","n":2},"op":"u"}` + "\n" +
		`{"before":{"k":"c","n":7},"after":null,"op":"d"}` + "\n"
	if got := out.String(); got != want {
		t.Fatalf("got\n%s\nwant\n%s", got, want)
	}
}

// An updating query plans into a debezium_json table and not into a json
// one.
func TestUpdatingQueryNeedsDebezium(t *testing.T) {
	var out syncBuffer
	reg := connectors.NewRegistry()
	for _, c := range []connectors.Connector{impulse.Connector{}, stdout.New(&out)} {
		if err := reg.Register(c); err != nil {
			t.Fatal(err)
		}
	}
	q := `CREATE TABLE i WITH (connector = 'impulse', message_count = '100');
CREATE TABLE o WITH (connector = 'stdout', format = '%s');
INSERT INTO o SELECT counter % 3 AS k, count(*) AS n FROM i GROUP BY counter % 3`
	_, err := sql.Plan(strings.Replace(q, "%s", "json", 1), sql.Options{Connectors: reg})
	var pe *sql.Error
	if !errors.As(err, &pe) || !strings.Contains(pe.Error(), "format = 'debezium_json'") {
		t.Fatalf("json sink: %v", err)
	}
	p, err := sql.Plan(strings.Replace(q, "%s", "debezium_json", 1), sql.Options{Connectors: reg, Parallelism: 2})
	if err != nil {
		t.Fatal(err)
	}
	x, err := engine.NewRunner().Start(context.Background(), p, engine.RunOptions{JobID: "j"})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-x.Done():
	case <-time.After(30 * time.Second):
		x.Stop(engine.StopImmediate)
		<-x.Done()
		t.Fatal("pipeline did not finish")
	}
	if err := x.Err(); err != nil {
		t.Fatal(err)
	}
	// The last change of each key holds its final count.
	last := map[string]string{}
	for _, l := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		i := strings.Index(l, `"after":{"k":`)
		if i < 0 {
			t.Fatalf("line without an after row: %s", l)
		}
		row := l[i+len(`"after":`) : strings.Index(l, `},"op"`)+1]
		last[row[:strings.Index(row, ",")]] = row
	}
	want := map[string]string{`{"k":0`: `{"k":0,"n":34}`, `{"k":1`: `{"k":1,"n":33}`, `{"k":2`: `{"k":2,"n":33}`}
	for k, w := range want {
		if last[k] != w {
			t.Errorf("key %s: last row %s, want %s (output:\n%s)", k, last[k], w, out.String())
		}
	}
}
