package preview

import (
	"context"
	"encoding/json"
	"sync"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/runnel-dev/runnel/internal/engine"
	"github.com/runnel-dev/runnel/internal/output"
)

func testBatch() arrow.RecordBatch {
	ts := &arrow.TimestampType{Unit: arrow.Microsecond}
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "n", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
		{Name: "s", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "f", Type: arrow.PrimitiveTypes.Float64, Nullable: true},
		{Name: "b", Type: arrow.FixedWidthTypes.Boolean, Nullable: true},
		{Name: "t", Type: ts, Nullable: true},
		{Name: engine.TimestampField, Type: ts},
	}, nil)
	bld := array.NewRecordBuilder(memory.DefaultAllocator, schema)
	defer bld.Release()
	bld.Field(0).(*array.Int64Builder).AppendValues([]int64{1, 0}, []bool{true, false})
	bld.Field(1).(*array.StringBuilder).AppendValues([]string{"a\"b\\c\n\x01é", ""}, []bool{true, false})
	bld.Field(2).(*array.Float64Builder).AppendValues([]float64{1.5, 0}, []bool{true, false})
	bld.Field(3).(*array.BooleanBuilder).AppendValues([]bool{true, false}, []bool{true, false})
	bld.Field(4).(*array.TimestampBuilder).AppendValues([]arrow.Timestamp{1_700_000_000_123_456, 0}, []bool{true, false})
	bld.Field(5).(*array.TimestampBuilder).AppendValues([]arrow.Timestamp{1_000_000, 2_000_000}, nil)
	return bld.NewRecordBatch()
}

func TestEncodeRows(t *testing.T) {
	b := testBatch()
	defer b.Release()
	got := EncodeRows(b)
	want := `[{"n":1,"s":"a\"b\\c\n\u0001é","f":1.5,"b":true,"t":"2023-11-14T22:13:20.123456Z"},{"n":null,"s":null,"f":null,"b":null,"t":null}]`
	if got != want {
		t.Errorf("EncodeRows =\n%s\nwant\n%s", got, want)
	}
	var rows []map[string]any
	if err := json.Unmarshal([]byte(got), &rows); err != nil || len(rows) != 2 {
		t.Errorf("not JSON: %v", err)
	}
}

type memOut struct {
	mu sync.Mutex
	ds []output.Data
}

func (m *memOut) Send(_ context.Context, d output.Data) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.ds = append(m.ds, d)
	return nil
}

func TestSinkSendsRowsThenDone(t *testing.T) {
	out := &memOut{}
	s := NewSink(engine.TaskInfo{OperatorID: "sink_preview_3", Subtask: 1, Output: out})
	b := testBatch()
	defer b.Release()
	ctx := context.Background()
	for i := 0; i < 2; i++ {
		if err := s.Process(ctx, b, nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Finish(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if len(out.ds) != 3 {
		t.Fatalf("sent %d messages, want 2 batches and one done: %+v", len(out.ds), out.ds)
	}
	first, second, done := out.ds[0], out.ds[1], out.ds[2]
	if first.OperatorID != "sink_preview_3" || first.SubtaskIdx != 1 || first.StartID != 0 || second.StartID != 2 {
		t.Errorf("ids: %+v / %+v", first, second)
	}
	if len(first.Timestamps) != 2 || first.Timestamps[0] != 1_000_000 || first.Timestamps[1] != 2_000_000 || first.Done {
		t.Errorf("timestamps %v", first.Timestamps)
	}
	if !done.Done || done.Batch != "[]" || len(done.Timestamps) != 0 || done.Timestamps == nil {
		t.Errorf("done message %+v", done)
	}
}

func TestCloseSendsDoneAfterCancel(t *testing.T) {
	out := &memOut{}
	s := NewSink(engine.TaskInfo{OperatorID: "p", Output: out})
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if len(out.ds) != 1 || !out.ds[0].Done {
		t.Errorf("Close sent %+v", out.ds)
	}
	// Without an output the sink just drops rows.
	s = NewSink(engine.TaskInfo{OperatorID: "p"})
	b := testBatch()
	defer b.Release()
	if err := s.Process(context.Background(), b, nil); err != nil {
		t.Error(err)
	}
}
