package engine

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

var joinIn = arrow.NewSchema([]arrow.Field{
	{Name: "k", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
	{Name: "s", Type: arrow.BinaryTypes.String, Nullable: true},
	{Name: TimestampField, Type: &arrow.TimestampType{Unit: arrow.Microsecond}},
}, nil)

func joinBatch(keys []any, s string, ts int64) arrow.RecordBatch {
	b := array.NewRecordBuilder(memory.DefaultAllocator, joinIn)
	defer b.Release()
	for i, k := range keys {
		if k == nil {
			b.Field(0).AppendNull()
		} else {
			b.Field(0).(*array.Int64Builder).Append(int64(k.(int)))
		}
		b.Field(1).(*array.StringBuilder).Append(s)
		b.Field(2).(*array.TimestampBuilder).Append(arrow.Timestamp(ts + int64(i)))
	}
	return b.NewRecordBatch()
}

// Rows match the other side's rows of their key in arrival order, NULL
// keys match nothing, and rows behind the watermark minus the TTL are
// forgotten (their batches released) while the others still match.
func TestJoinMatchesAndExpires(t *testing.T) {
	out := arrow.NewSchema([]arrow.Field{joinIn.Field(0), joinIn.Field(1), joinIn.Field(0), joinIn.Field(1), joinIn.Field(2)}, nil)
	op, err := NewJoin(JoinConfig{LeftKey: []int{0}, RightKey: []int{0}, TTL: 10, Out: out})(TaskInfo{})
	if err != nil {
		t.Fatal(err)
	}
	j := op.(*join)
	ctx := context.Background()
	sink := &strRows{}
	feed := func(input int, b arrow.RecordBatch) {
		t.Helper()
		if err := j.ProcessInput(ctx, input, b, sink); err != nil {
			t.Fatal(err)
		}
		b.Release()
	}
	feed(0, joinBatch([]any{1, 2, nil, 1}, "a", 0)) // ts 0..3
	feed(0, joinBatch([]any{3, 1}, "b", 100))       // ts 100, 101
	feed(1, joinBatch([]any{1, nil, 4}, "x", 50))   // matches a(0), a(3), b(101)
	if j.StateRows() != 7 {
		t.Fatalf("state rows %d, want 7", j.StateRows())
	}
	if err := j.ProcessWatermark(ctx, 60, sink); err != nil { // forget ts < 50
		t.Fatal(err)
	}
	if j.StateRows() != 4 || len(j.sides[0].batches) != 1 {
		t.Fatalf("after expiry: %d rows, %d left batches; want 4, 1", j.StateRows(), len(j.sides[0].batches))
	}
	feed(1, joinBatch([]any{1, 3}, "y", 200))
	want := []string{"1|a|1|x|.00005|", "1|a|1|x|.00005|", "1|b|1|x|.000101|", "1|b|1|y|.0002|", "3|b|3|y|.000201|"}
	var got []string
	for _, r := range sink.rows {
		got = append(got, strings.Replace(r, "1970-01-01T00:00:00", "", 1))
	}
	if !slices.Equal(got, want) {
		t.Fatalf("got %v, want %v", sink.rows, want)
	}
}

// BenchmarkJoin stores 8192 rows per op on the left (keys mostly new)
// and probes them with a few right rows, forgetting everything every 16
// ops, as a windowed join does.
func BenchmarkJoin(b *testing.B) {
	out := arrow.NewSchema([]arrow.Field{joinIn.Field(0), joinIn.Field(1), joinIn.Field(0), joinIn.Field(1), joinIn.Field(2)}, nil)
	op, _ := NewJoin(JoinConfig{LeftKey: []int{0}, RightKey: []int{0}, Out: out})(TaskInfo{})
	j := op.(*join)
	ctx := context.Background()
	keys := make([]any, benchRows)
	for i := range keys {
		keys[i] = i * 7 % 5000
	}
	left := joinBatch(keys, "left", 0)
	defer left.Release()
	right := joinBatch([]any{1, 2, 3, 4}, "right", 0)
	defer right.Release()
	sink := &discard{}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := j.ProcessInput(ctx, 0, left, sink); err != nil {
			b.Fatal(err)
		}
		if err := j.ProcessInput(ctx, 1, right, sink); err != nil {
			b.Fatal(err)
		}
		if i%16 == 15 {
			if err := j.ProcessWatermark(ctx, 1<<40, sink); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(benchRows)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
}
