package engine

import (
	"context"
	"math/rand"
	"slices"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

var rnIn = arrow.NewSchema([]arrow.Field{
	{Name: "p", Type: arrow.PrimitiveTypes.Int64},
	{Name: "a", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
	{Name: "s", Type: arrow.BinaryTypes.String, Nullable: true},
	{Name: TimestampField, Type: &arrow.TimestampType{Unit: arrow.Microsecond}},
}, nil)

var rnOut = arrow.NewSchema([]arrow.Field{rnIn.Field(0), rnIn.Field(1), rnIn.Field(2),
	{Name: "row_number", Type: arrow.PrimitiveTypes.Int64}, rnIn.Field(3)}, nil)

// A pushed-down limit keeps exactly the rows a full sort would number
// 1..Limit, ties and NULLs included.
func TestRowNumberLimit(t *testing.T) {
	rng := rand.New(rand.NewSource(3))
	var batches []arrow.RecordBatch
	for i := 0; i < 10; i++ {
		b := array.NewRecordBuilder(memory.DefaultAllocator, rnIn)
		for r := 0; r < 200; r++ {
			b.Field(0).(*array.Int64Builder).Append(rng.Int63n(4))
			if rng.Intn(8) == 0 {
				b.Field(1).AppendNull()
			} else {
				b.Field(1).(*array.Int64Builder).Append(rng.Int63n(10))
			}
			if rng.Intn(8) == 0 {
				b.Field(2).AppendNull()
			} else {
				b.Field(2).(*array.StringBuilder).Append(string(rune('a' + rng.Intn(5))))
			}
			b.Field(3).(*array.TimestampBuilder).Append(arrow.Timestamp(r))
		}
		batches = append(batches, b.NewRecordBatch())
		b.Release()
	}
	for _, desc := range [][]bool{{true, false}, {false, true}} {
		run := func(limit int64) []string {
			op, _ := NewRowNumber(RowNumberConfig{Partition: []int{0}, Order: []int{1, 2}, Desc: desc, Limit: limit, Out: rnOut})(TaskInfo{})
			sink := &strRows{}
			for _, b := range batches {
				if err := op.Process(context.Background(), b, sink); err != nil {
					t.Fatal(err)
				}
			}
			if err := op.Finish(context.Background(), sink); err != nil {
				t.Fatal(err)
			}
			return sink.rows
		}
		all := run(0)
		for _, limit := range []int64{1, 3} {
			var want []string
			for _, r := range all {
				f := strings.Split(r, "|")
				if f[3] <= string(rune('0'+limit)) && len(f[3]) == 1 {
					want = append(want, r)
				}
			}
			if got := run(limit); !slices.Equal(got, want) {
				t.Fatalf("desc %v limit %d: got %d rows %v\nwant %d rows %v", desc, limit, len(got), got, len(want), want)
			}
		}
	}
}

// BenchmarkRowNumberTop1 numbers 8192 rows per op in 4 partitions and
// keeps the first of each (a pushed-down row_num = 1), firing every 16 ops.
func BenchmarkRowNumberTop1(b *testing.B) {
	bld := array.NewRecordBuilder(memory.DefaultAllocator, rnIn)
	rng := rand.New(rand.NewSource(4))
	for r := 0; r < benchRows; r++ {
		bld.Field(0).(*array.Int64Builder).Append(int64(r / (benchRows / 4)))
		bld.Field(1).(*array.Int64Builder).Append(rng.Int63n(1000))
		bld.Field(2).(*array.StringBuilder).Append("x")
		bld.Field(3).(*array.TimestampBuilder).Append(arrow.Timestamp(r))
	}
	in := bld.NewRecordBatch()
	bld.Release()
	defer in.Release()
	op, _ := NewRowNumber(RowNumberConfig{Partition: []int{0}, Order: []int{1, 2}, Desc: []bool{true, false}, Limit: 1, Out: rnOut})(TaskInfo{})
	ctx := context.Background()
	sink := &discard{}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := op.Process(ctx, in, sink); err != nil {
			b.Fatal(err)
		}
		if i%16 == 15 {
			if err := op.Finish(ctx, sink); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(benchRows)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
}
