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
// one Exchange stream over loopback, from Send to Recv: with the schema
// sent once per stream (what the transport does) and with a
// self-contained IPC stream per batch.
func BenchmarkExchange(b *testing.B) {
	for _, perBatch := range []bool{false, true} {
		name := "ipc=per-stream"
		if perBatch {
			name = "ipc=per-batch"
		}
		b.Run(name, func(b *testing.B) { benchExchange(b, perBatch) })
	}
}

func benchExchange(b *testing.B, perBatch bool) {
	const rows = 4096
	a, w := startWorker(b), startWorker(b)
	dst := engine.TaskAddr{NodeID: 2, Subtask: 0}
	in, err := w.transport(b, "", dst).Inbox(dst, engine.DefaultQueueSize)
	if err != nil {
		b.Fatal(err)
	}
	ta := a.transport(b, w.addr)
	ta.perBatchIPC = perBatch
	out, err := ta.Outbox(dst)
	if err != nil {
		b.Fatal(err)
	}
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
	b.SetBytes(int64(ipcSize(batch)))
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

// BenchmarkCodec is the encoding and decoding alone, for large and small
// batches (where sending the schema with each one weighs most).
func BenchmarkCodec(b *testing.B) {
	for _, rows := range []int{4096, 16} {
		for _, perBatch := range []bool{false, true} {
			name := fmt.Sprintf("rows=%d/ipc=per-stream", rows)
			if perBatch {
				name = fmt.Sprintf("rows=%d/ipc=per-batch", rows)
			}
			b.Run(name, func(b *testing.B) { benchCodec(b, rows, perBatch) })
		}
	}
}

func benchCodec(b *testing.B, rows int, perBatch bool) {
	batch := benchBatch(rows)
	defer batch.Release()
	enc := encoder{perBatch: perBatch}
	defer enc.close()
	dec := decoder{mem: memory.DefaultAllocator}
	defer dec.close()
	for range b.N {
		f, err := enc.encode(engine.Message{Batch: batch})
		if err != nil {
			b.Fatal(err)
		}
		m, err := dec.decode(f)
		if err != nil {
			b.Fatal(err)
		}
		m.Batch.Release()
	}
	b.ReportMetric(float64(b.N*rows)/b.Elapsed().Seconds(), "rows/s")
}
