package engine

import (
	"context"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/runnel-dev/runnel/internal/engine/expr"
)

const benchRows = 8192

func benchBatch() arrow.RecordBatch {
	b := array.NewRecordBuilder(memory.DefaultAllocator, aggIn)
	defer b.Release()
	keys := []string{"alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta"}
	for i := 0; i < benchRows; i++ {
		b.Field(0).(*array.StringBuilder).Append(keys[i%len(keys)] + keys[(i/8)%len(keys)])
		b.Field(1).(*array.Int64Builder).Append(int64(i))
		b.Field(2).(*array.TimestampBuilder).Append(arrow.Timestamp(int64(i) * 1000))
	}
	return b.NewRecordBatch()
}

type discard struct{ rows int64 }

func (d *discard) Collect(_ context.Context, b arrow.RecordBatch) error {
	d.rows += b.NumRows()
	return nil
}

func benchOp(b *testing.B, op Operator) {
	ctx := context.Background()
	in := benchBatch()
	defer in.Release()
	out := &discard{}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := op.Process(ctx, in, out); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(benchRows)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
}

func BenchmarkFilter(b *testing.B) {
	pred := &expr.Call{Func: "greater", Op: ">", Infix: true, T: arrow.FixedWidthTypes.Boolean, Args: []expr.Expr{
		&expr.Column{Index: 1, Name: "v", T: arrow.PrimitiveTypes.Int64},
		expr.NewLiteral(int64(benchRows/2), arrow.PrimitiveTypes.Int64),
	}}
	op, _ := NewFilter(pred)(TaskInfo{})
	benchOp(b, op)
}

func BenchmarkProject(b *testing.B) {
	exprs := []expr.Expr{
		&expr.Column{Index: 0, Name: "k", T: arrow.BinaryTypes.String},
		&expr.Call{Func: "multiply_unchecked", Op: "*", Infix: true, T: arrow.PrimitiveTypes.Int64, Args: []expr.Expr{
			&expr.Column{Index: 1, Name: "v", T: arrow.PrimitiveTypes.Int64},
			expr.NewLiteral(int64(3), arrow.PrimitiveTypes.Int64),
		}},
		&expr.Column{Index: 2, Name: TimestampField, T: aggIn.Field(2).Type},
	}
	op, _ := NewProject(arrow.NewSchema(aggIn.Fields(), nil), exprs)(TaskInfo{})
	benchOp(b, op)
}

func BenchmarkShufflePartition(b *testing.B) {
	ctx := context.Background()
	in := benchBatch()
	defer in.Release()
	p := newPartitioner([]int{0}, 4)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		parts, err := p.split(ctx, in)
		if err != nil {
			b.Fatal(err)
		}
		for _, pb := range parts {
			if pb != nil {
				pb.Release()
			}
		}
	}
	b.ReportMetric(float64(benchRows)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
}

func BenchmarkWindowAggregate(b *testing.B) {
	for _, spec := range []WindowSpec{{Kind: Tumble, Width: 1_000_000}, {Kind: Hop, Slide: 200_000, Width: 1_000_000}} {
		b.Run(spec.String(), func(b *testing.B) {
			op, _ := NewWindowAgg(WindowAggConfig{Keys: []int{0}, Window: spec,
				Aggs: []AggSpec{{Kind: AggCountStar}, {Kind: AggSum, Arg: 1}}, Out: aggOut})(TaskInfo{})
			w := op.(*windowAgg)
			ctx := context.Background()
			in := benchBatch()
			defer in.Release()
			out := &discard{}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if err := w.Process(ctx, in, out); err != nil {
					b.Fatal(err)
				}
				if i%16 == 15 {
					w.wm = 0 // keep rows on time; fire everything
					if err := w.fire(ctx, 1<<62, out); err != nil {
						b.Fatal(err)
					}
				}
			}
			b.ReportMetric(float64(benchRows)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
		})
	}
}
