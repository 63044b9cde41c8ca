package engine

import (
	"context"
	"fmt"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/bitutil"
	"github.com/apache/arrow-go/v18/arrow/compute"
	"github.com/apache/arrow-go/v18/arrow/scalar"

	"github.com/runnel-dev/runnel/internal/engine/expr"
)

// TimestampField is the hidden column that carries every row's event time
// (microseconds, UTC) through the dataflow. Sources add it; sinks drop it.
const TimestampField = "_timestamp"

// Stateless operators keep nothing between batches, so they need no Finish
// or Close work.
type stateless struct{}

func (stateless) Finish(context.Context, Collector) error { return nil }

// NewFilter returns the constructor of an operator that keeps the rows for
// which pred is true (NULL counts as false).
func NewFilter(pred expr.Expr) func(TaskInfo) (Operator, error) {
	return func(TaskInfo) (Operator, error) { return &filter{pred: pred}, nil }
}

type filter struct {
	stateless
	pred expr.Expr
	// project, if set, is computed over the input before filtering.
	project *project
}

// projected applies the fused projection, if any.
func (f *filter) projected(ctx context.Context, b arrow.RecordBatch, out Collector) error {
	if f.project == nil {
		return out.Collect(ctx, b)
	}
	return f.project.Process(ctx, b, out)
}

func (f *filter) Process(ctx context.Context, b arrow.RecordBatch, out Collector) error {
	d, err := f.pred.Eval(ctx, b)
	if err != nil {
		return WithDomain(DomainUser, err)
	}
	defer d.Release()
	switch v := d.(type) {
	case *compute.ScalarDatum:
		if bv, ok := v.Value.(*scalar.Boolean); ok && bv.Valid && bv.Value {
			return f.projected(ctx, b, out)
		}
		return nil
	case *compute.ArrayDatum:
		mask := v.MakeArray().(*array.Boolean)
		defer mask.Release()
		if mask.NullN() == 0 {
			switch bitutil.CountSetBits(mask.Data().Buffers()[1].Bytes(), mask.Data().Offset(), mask.Len()) {
			case 0:
				return nil
			case mask.Len():
				return f.projected(ctx, b, out)
			}
		}
		if f.project != nil {
			var perr error
			err := f.project.Process(ctx, b, CollectorFunc(func(ctx context.Context, pb arrow.RecordBatch) error {
				perr = filterBatch(ctx, pb, mask, out)
				return perr
			}))
			if perr != nil {
				return perr
			}
			return err
		}
		return filterBatch(ctx, b, mask, out)
	}
	return fmt.Errorf("filter: predicate gave a %s", d.Kind())
}

// filterBatch keeps the rows of b where mask is true.
func filterBatch(ctx context.Context, b arrow.RecordBatch, mask *array.Boolean, out Collector) error {
	{
		// Column by column on this goroutine: FilterRecordBatch starts a
		// goroutine per column, which costs more than it saves on batches
		// of a few hundred rows.
		cols := make([]arrow.Array, 0, b.NumCols())
		defer func() {
			for _, c := range cols {
				c.Release()
			}
		}()
		var idx []int32
		for _, c := range b.Columns() {
			switch c.(type) {
			case *array.Int64, *array.Float64, *array.Timestamp, *array.String:
				if idx == nil {
					idx = selected(mask, make([]int32, 0, mask.Len()))
				}
				cols = append(cols, takeFast(c, idx))
				continue
			}
			kept, err := compute.FilterArray(ctx, c, mask, *compute.DefaultFilterOptions())
			if err != nil {
				return fmt.Errorf("filter: %w", err)
			}
			cols = append(cols, kept)
		}
		n := int64(cols[0].Len())
		if n == 0 {
			return nil
		}
		kept := array.NewRecordBatch(b.Schema(), cols, n)
		defer kept.Release()
		return out.Collect(ctx, kept)
	}
}

// NewProject returns the constructor of an operator that computes one
// output column per expression.
func NewProject(schema *arrow.Schema, exprs []expr.Expr) func(TaskInfo) (Operator, error) {
	return func(TaskInfo) (Operator, error) {
		if schema.NumFields() != len(exprs) {
			return nil, fmt.Errorf("project: %d expressions for %d fields", len(exprs), schema.NumFields())
		}
		return &project{schema: schema, exprs: exprs}, nil
	}
}

type project struct {
	stateless
	schema *arrow.Schema
	exprs  []expr.Expr
}

func (p *project) Process(ctx context.Context, b arrow.RecordBatch, out Collector) error {
	n := int(b.NumRows())
	cols := make([]arrow.Array, 0, len(p.exprs))
	defer func() {
		for _, c := range cols {
			c.Release()
		}
	}()
	for _, e := range p.exprs {
		d, err := e.Eval(ctx, b)
		if err != nil {
			return WithDomain(DomainUser, err)
		}
		a, err := expr.ToArray(d, n)
		d.Release()
		if err != nil {
			return err
		}
		cols = append(cols, a)
	}
	rb := array.NewRecordBatch(p.schema, cols, int64(n))
	defer rb.Release()
	return out.Collect(ctx, rb)
}

// NewFilterProject returns the constructor of an operator that computes
// the projection over the whole input and keeps the rows where pred is
// true: a WHERE then a SELECT in one pass, filtering only the output
// columns instead of every input column (wide source rows such as
// Nexmark's three structs are never copied).
func NewFilterProject(pred expr.Expr, schema *arrow.Schema, exprs []expr.Expr) func(TaskInfo) (Operator, error) {
	return func(TaskInfo) (Operator, error) {
		if schema.NumFields() != len(exprs) {
			return nil, fmt.Errorf("project: %d expressions for %d fields", len(exprs), schema.NumFields())
		}
		return &filter{pred: pred, project: &project{schema: schema, exprs: exprs}}, nil
	}
}
