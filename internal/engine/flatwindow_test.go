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

var flatIn = arrow.NewSchema([]arrow.Field{
	{Name: "a", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
	{Name: "b", Type: arrow.PrimitiveTypes.Int32, Nullable: true},
	{Name: "v", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
	{Name: "f", Type: arrow.PrimitiveTypes.Float64, Nullable: true},
	{Name: TimestampField, Type: &arrow.TimestampType{Unit: arrow.Microsecond}},
}, nil)

func flatBatch(rng *rand.Rand, n int, t0 int64) arrow.RecordBatch {
	b := array.NewRecordBuilder(memory.DefaultAllocator, flatIn)
	defer b.Release()
	for i := 0; i < n; i++ {
		if rng.Intn(10) == 0 {
			b.Field(0).AppendNull()
		} else {
			b.Field(0).(*array.Int64Builder).Append(rng.Int63n(20))
		}
		if rng.Intn(10) == 0 {
			b.Field(1).AppendNull()
		} else {
			b.Field(1).(*array.Int32Builder).Append(int32(rng.Intn(3)))
		}
		if rng.Intn(5) == 0 {
			b.Field(2).AppendNull()
			b.Field(3).AppendNull()
		} else {
			b.Field(2).(*array.Int64Builder).Append(rng.Int63n(1000) - 500)
			b.Field(3).(*array.Float64Builder).Append(rng.Float64()*100 - 50)
		}
		b.Field(4).(*array.TimestampBuilder).Append(arrow.Timestamp(t0 + rng.Int63n(100)))
	}
	return b.NewRecordBatch()
}

type strRows struct{ rows []string }

func (s *strRows) Collect(_ context.Context, b arrow.RecordBatch) error {
	for r := 0; r < int(b.NumRows()); r++ {
		var sb strings.Builder
		for c := 0; c < int(b.NumCols()); c++ {
			sb.WriteString(b.Column(c).ValueStr(r))
			sb.WriteByte('|')
		}
		s.rows = append(s.rows, sb.String())
	}
	return nil
}

// The flat path gives the same groups and results as the generic one.
func TestWindowFlatMatchesGeneric(t *testing.T) {
	aggs := []AggSpec{{Kind: AggCountStar}, {Kind: AggCount, Arg: 2}, {Kind: AggSum, Arg: 2}, {Kind: AggAvg, Arg: 2},
		{Kind: AggMin, Arg: 2}, {Kind: AggMax, Arg: 2}, {Kind: AggSum, Arg: 3}, {Kind: AggMin, Arg: 3}, {Kind: AggMax, Arg: 3}}
	ts := &arrow.TimestampType{Unit: arrow.Microsecond}
	for _, keys := range [][]int{{}, {0}, {0, 1}} {
		fields := []arrow.Field{}
		for _, k := range keys {
			fields = append(fields, flatIn.Field(k))
		}
		fields = append(fields, arrow.Field{Name: "window", Type: WindowType})
		for i, a := range aggs {
			t := arrow.DataType(arrow.PrimitiveTypes.Int64)
			switch {
			case a.Kind == AggAvg || (a.Kind != AggCountStar && a.Kind != AggCount && a.Arg == 3):
				t = arrow.PrimitiveTypes.Float64
			}
			fields = append(fields, arrow.Field{Name: string(rune('m' + i)), Type: t, Nullable: true})
		}
		fields = append(fields, arrow.Field{Name: TimestampField, Type: ts})
		out := arrow.NewSchema(fields, nil)
		for _, spec := range []WindowSpec{{Kind: Tumble, Width: 50}, {Kind: Hop, Slide: 20, Width: 60}, {Kind: Hop, Slide: 20, Width: 50}} {
			var res [2][]string
			for mode := 0; mode < 2; mode++ {
				op, err := NewWindowAgg(WindowAggConfig{Keys: keys, Window: spec, Aggs: aggs, Out: out})(TaskInfo{})
				if err != nil {
					t.Fatal(err)
				}
				w := op.(*windowAgg)
				if mode == 1 {
					w.mode = genericMode
				}
				rng := rand.New(rand.NewSource(1))
				sink := &strRows{}
				ctx := context.Background()
				for i := 0; i < 20; i++ {
					b := flatBatch(rng, 300, int64(i)*40)
					if err := w.Process(ctx, b, sink); err != nil {
						t.Fatal(err)
					}
					b.Release()
					if err := w.ProcessWatermark(ctx, int64(i)*40-30, sink); err != nil {
						t.Fatal(err)
					}
				}
				if err := w.Finish(ctx, sink); err != nil {
					t.Fatal(err)
				}
				if mode == 0 && w.mode != flatMode {
					t.Fatalf("keys %v: not on the flat path", keys)
				}
				res[mode] = sink.rows
			}
			if len(res[0]) == 0 || !slices.Equal(res[0], res[1]) {
				t.Fatalf("keys %v %s: flat and generic differ (%d vs %d rows)\n%v\n%v", keys, spec, len(res[0]), len(res[1]), res[0][:min(5, len(res[0]))], res[1][:min(5, len(res[1]))])
			}
		}
	}
}

func BenchmarkWindowAggregateIntKey(b *testing.B) {
	for _, spec := range []WindowSpec{{Kind: Tumble, Width: 1_000_000}, {Kind: Hop, Slide: 200_000, Width: 1_000_000}} {
		b.Run(spec.String(), func(b *testing.B) {
			out := arrow.NewSchema([]arrow.Field{flatIn.Field(0), {Name: "window", Type: WindowType},
				{Name: "n", Type: arrow.PrimitiveTypes.Int64}, {Name: "m", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
				{Name: TimestampField, Type: flatIn.Field(4).Type}}, nil)
			op, _ := NewWindowAgg(WindowAggConfig{Keys: []int{0}, Window: spec,
				Aggs: []AggSpec{{Kind: AggCountStar}, {Kind: AggMax, Arg: 2}}, Out: out})(TaskInfo{})
			w := op.(*windowAgg)
			ctx := context.Background()
			in := flatBatch(rand.New(rand.NewSource(2)), benchRows, 0)
			defer in.Release()
			sink := &discard{}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if err := w.Process(ctx, in, sink); err != nil {
					b.Fatal(err)
				}
				if i%16 == 15 {
					w.wm = 0
					if err := w.fire(ctx, 1<<62, sink); err != nil {
						b.Fatal(err)
					}
				}
			}
			b.ReportMetric(float64(benchRows)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
		})
	}
}
