package engine

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

var aggIn = arrow.NewSchema([]arrow.Field{
	{Name: "k", Type: arrow.BinaryTypes.String, Nullable: true},
	{Name: "v", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
	{Name: TimestampField, Type: &arrow.TimestampType{Unit: arrow.Microsecond}},
}, nil)

var aggOut = arrow.NewSchema([]arrow.Field{
	{Name: "k", Type: arrow.BinaryTypes.String, Nullable: true},
	{Name: "window", Type: WindowType},
	{Name: "n", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
	{Name: "s", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
	{Name: TimestampField, Type: &arrow.TimestampType{Unit: arrow.Microsecond}},
}, nil)

func aggBatch(rows ...any) arrow.RecordBatch {
	b := array.NewRecordBuilder(memory.DefaultAllocator, aggIn)
	defer b.Release()
	for i := 0; i < len(rows); i += 3 {
		b.Field(0).(*array.StringBuilder).Append(rows[i].(string))
		b.Field(1).(*array.Int64Builder).Append(int64(rows[i+1].(int)))
		b.Field(2).(*array.TimestampBuilder).Append(arrow.Timestamp(rows[i+2].(int)))
	}
	return b.NewRecordBatch()
}

type rowsOut struct{ rows []string }

func (r *rowsOut) Collect(_ context.Context, b arrow.RecordBatch) error {
	for i := 0; i < int(b.NumRows()); i++ {
		w := b.Column(1).(*array.Struct)
		r.rows = append(r.rows, fmt.Sprintf("%s [%d,%d) n=%d s=%d t=%d", b.Column(0).ValueStr(i),
			w.Field(0).(*array.Timestamp).Value(i), w.Field(1).(*array.Timestamp).Value(i),
			b.Column(2).(*array.Int64).Value(i), b.Column(3).(*array.Int64).Value(i),
			b.Column(4).(*array.Timestamp).Value(i)))
	}
	return nil
}

// Windows fire when the watermark passes their end; rows behind the
// watermark are dropped and counted.
func TestWindowWatermarkAndLateness(t *testing.T) {
	ctx := context.Background()
	op, err := NewWindowAgg(WindowAggConfig{Keys: []int{0}, Window: WindowSpec{Kind: Tumble, Width: 10},
		Aggs: []AggSpec{{Kind: AggCountStar}, {Kind: AggSum, Arg: 1}}, Out: aggOut})(TaskInfo{})
	if err != nil {
		t.Fatal(err)
	}
	w := op.(*windowAgg)
	out := &rowsOut{}
	step := func(b arrow.RecordBatch) {
		defer b.Release()
		if err := w.Process(ctx, b, out); err != nil {
			t.Fatal(err)
		}
	}
	step(aggBatch("a", 1, 1, "b", 2, 3, "a", 3, 12))
	if err := w.ProcessWatermark(ctx, 9, out); err != nil || len(out.rows) != 0 {
		t.Fatalf("fired early: %v %v", out.rows, err)
	}
	if err := w.ProcessWatermark(ctx, 10, out); err != nil {
		t.Fatal(err)
	}
	want := "a [0,10) n=1 s=1 t=9|b [0,10) n=1 s=2 t=9"
	if got := strings.Join(out.rows, "|"); got != want {
		t.Fatalf("got %s, want %s", got, want)
	}
	out.rows = nil
	step(aggBatch("a", 100, 5, "a", 4, 15, "c", 200, 9))
	if w.LateRows() != 2 {
		t.Fatalf("late rows %d, want 2", w.LateRows())
	}
	if err := w.Finish(ctx, out); err != nil {
		t.Fatal(err)
	}
	if got, want := strings.Join(out.rows, "|"), "a [10,20) n=2 s=7 t=19"; got != want {
		t.Fatalf("got %s, want %s", got, want)
	}
}

func TestWatermarksMinOverSenders(t *testing.T) {
	w := newWatermarks([]int{2, 1}, -1)
	if _, ok := w.update(0, 0, 10); ok {
		t.Fatal("advanced with two senders behind")
	}
	if _, ok := w.update(1, 0, 20); ok {
		t.Fatal("advanced with one sender behind")
	}
	if wm, ok := w.update(0, 1, 15); !ok || wm != 10 {
		t.Fatalf("got %d %v, want 10", wm, ok)
	}
	if wm, ok := w.end(0, 0); !ok || wm != 15 {
		t.Fatalf("after end: %d %v, want 15", wm, ok)
	}
}

// A sender silent for longer than the idle timeout stops holding the
// watermark back until it sends again.
func TestWatermarksIdleSender(t *testing.T) {
	now := time.Unix(0, 0)
	w := newWatermarks([]int{2}, time.Second)
	w.now = func() time.Time { return now }
	for i := range w.last {
		w.last[i] = now
	}
	w.seen(0, 0)
	if _, ok := w.update(0, 0, 100); ok {
		t.Fatal("advanced while the other sender is active")
	}
	now = now.Add(2 * time.Second)
	w.seen(0, 0)
	if wm, ok := w.update(0, 0, 200); !ok || wm != 200 {
		t.Fatalf("idle sender held the watermark: %d %v", wm, ok)
	}
	w.seen(0, 1)
	if _, ok := w.update(0, 1, 150); ok {
		t.Fatal("watermark went back or advanced on a lower value")
	}
}
