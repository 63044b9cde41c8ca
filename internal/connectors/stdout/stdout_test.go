package stdout_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/runnel-dev/runnel/internal/connectors"
	"github.com/runnel-dev/runnel/internal/connectors/impulse"
	"github.com/runnel-dev/runnel/internal/connectors/stdout"
	"github.com/runnel-dev/runnel/internal/engine"
	"github.com/runnel-dev/runnel/internal/engine/expr"
	"github.com/runnel-dev/runnel/internal/sql"
)

// syncBuffer is a bytes.Buffer safe for concurrent writers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func batch(t *testing.T) arrow.RecordBatch {
	t.Helper()
	cols := []connectors.Column{
		{Name: "id", Type: arrow.PrimitiveTypes.Int64},
		{Name: "name", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "at", Type: expr.Timestamp, Nullable: true},
		{Name: "x", Type: arrow.PrimitiveTypes.Float64, Nullable: true},
	}
	b := array.NewRecordBuilder(memory.DefaultAllocator, connectors.SchemaOf(cols))
	defer b.Release()
	b.Field(0).(*array.Int64Builder).AppendValues([]int64{1, 2}, nil)
	b.Field(1).(*array.StringBuilder).AppendValues([]string{`a "b"`, ""}, []bool{true, false})
	b.Field(2).(*array.TimestampBuilder).AppendValues([]arrow.Timestamp{1_700_000_000_000_001, 0}, []bool{true, false})
	b.Field(3).(*array.Float64Builder).AppendValues([]float64{1.5, 0}, []bool{true, false})
	b.Field(4).(*array.TimestampBuilder).AppendValues([]arrow.Timestamp{5, 6}, nil)
	return b.NewRecordBatch()
}

func TestFormat(t *testing.T) {
	var out syncBuffer
	c := stdout.New(&out)
	tbl, err := c.NewTable(connectors.TableSpec{Name: "o", Options: connectors.NewOptions(map[string]string{"format": "json"})})
	if err != nil {
		t.Fatal(err)
	}
	b := batch(t)
	defer b.Release()
	op, err := tbl.NewSink(b.Schema())(engine.TaskInfo{})
	if err != nil {
		t.Fatal(err)
	}
	if err := op.Process(context.Background(), b, nil); err != nil {
		t.Fatal(err)
	}
	if err := op.Finish(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	want := `{"id":1,"name":"a \"b\"","at":"2023-11-14T22:13:20.000001Z","x":1.5}` + "\n" +
		`{"id":2,"name":null,"at":null,"x":null}` + "\n"
	if got := out.String(); got != want {
		t.Fatalf("got\n%s\nwant\n%s", got, want)
	}
}

func TestOptions(t *testing.T) {
	c := stdout.New(nil)
	_, err := c.NewTable(connectors.TableSpec{Name: "o", Options: connectors.NewOptions(map[string]string{"format": "avro"})})
	var oe *connectors.OptionError
	if !errors.As(err, &oe) || oe.Key != "format" {
		t.Fatalf("got %v", err)
	}
	o := connectors.NewOptions(map[string]string{"path": "x"})
	if _, err := c.NewTable(connectors.TableSpec{Name: "o", Options: o}); err != nil {
		t.Fatal(err)
	}
	if u := o.Unused(); len(u) != 1 || u[0] != "path" {
		t.Fatalf("unused %v", u)
	}
	d := c.Descriptor()
	if d.ID != "stdout" || !d.Sink || d.Source {
		t.Fatalf("%+v", d)
	}
	if _, ok := connectors.Default().Lookup("stdout"); !ok {
		t.Fatal("not registered")
	}
}

// TestPipeline runs a planned query with three sink subtasks writing to
// one writer: every line must arrive whole.
func TestPipeline(t *testing.T) {
	var out syncBuffer
	reg := connectors.NewRegistry()
	for _, c := range []connectors.Connector{impulse.Connector{}, stdout.New(&out)} {
		if err := reg.Register(c); err != nil {
			t.Fatal(err)
		}
	}
	p, err := sql.Plan(`
CREATE TABLE i WITH (connector = 'impulse', message_count = '3000');
CREATE TABLE o WITH (connector = 'stdout', format = 'json');
INSERT INTO o SELECT counter, subtask_index FROM i`, sql.Options{Parallelism: 3, Connectors: reg})
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
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	if len(lines) != 3000 {
		t.Fatalf("%d lines", len(lines))
	}
	var counters []int
	for _, l := range lines {
		var row struct {
			Counter      *int `json:"counter"`
			SubtaskIndex *int `json:"subtask_index"`
		}
		dec := json.NewDecoder(strings.NewReader(l))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&row); err != nil || row.Counter == nil || row.SubtaskIndex == nil {
			t.Fatalf("line %q: %v", l, err)
		}
		counters = append(counters, *row.Counter)
	}
	sort.Ints(counters)
	for i, c := range counters {
		if c != i {
			t.Fatalf("counter %d at %d", c, i)
		}
	}
}
