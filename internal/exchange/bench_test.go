package exchange

import (
	"context"
	"fmt"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/runnel-dev/runnel/internal/engine"
)

var benchSchema = arrow.NewSchema([]arrow.Field{
	{Name: "id", Type: arrow.PrimitiveTypes.Int64},
	{Name: "name", Type: arrow.BinaryTypes.String},
}, nil)

func benchBatch(rows int) arrow.RecordBatch {
	b := array.NewRecordBuilder(memory.DefaultAllocator, benchSchema)
	defer b.Release()
	for i := range rows {
		b.Field(0).(*array.Int64Builder).Append(int64(i))
		b.Field(1).(*array.StringBuilder).Append(fmt.Sprintf("user-%08d", i))
	}
	return b.NewRecordBatch()
}

// BenchmarkExchange streams batches of 4096 (int64, string) rows through
// one Exchange stream over loopback, from Send to Recv.
func BenchmarkExchange(b *testing.B) {
	const rows = 4096
	_, _, out, in, _, _ := pair(b, engine.DefaultQueueSize)
	batch := benchBatch(rows)
	defer batch.Release()
	ctx := context.Background()
	done := make(chan error, 1)
	go func() {
		for range b.N {
			m, err := in.Recv(ctx)
			if err != nil {
				done <- err
				return
			}
			m.Batch.Release()
		}
		done <- nil
	}()
	var size int64
	for _, c := range batch.Columns() {
		for _, buf := range c.Data().Buffers() {
			if buf != nil {
				size += int64(buf.Len())
			}
		}
	}
	b.SetBytes(size)
	b.ResetTimer()
	for range b.N {
		batch.Retain()
		if err := out.Send(ctx, engine.Message{Batch: batch}); err != nil {
			b.Fatal(err)
		}
	}
	if err := <-done; err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N*rows)/b.Elapsed().Seconds(), "rows/s")
}
