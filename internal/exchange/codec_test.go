package exchange

import (
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/runnel-dev/runnel/internal/engine"
)

func dictBatch(mem memory.Allocator, vals ...string) arrow.RecordBatch {
	dt := &arrow.DictionaryType{IndexType: arrow.PrimitiveTypes.Int32, ValueType: arrow.BinaryTypes.String}
	schema := arrow.NewSchema([]arrow.Field{{Name: "d", Type: dt}}, nil)
	bld := array.NewDictionaryBuilder(mem, dt).(*array.BinaryDictionaryBuilder)
	defer bld.Release()
	for _, v := range vals {
		if err := bld.AppendString(v); err != nil {
			panic(err)
		}
	}
	col := bld.NewArray()
	defer col.Release()
	return array.NewRecordBatch(schema, []arrow.Array{col}, int64(col.Len()))
}

// A decoder reads frames whose schema changes, dictionary batches
// (self-contained frames) in between, in both encoder modes.
func TestCodecSchemaChanges(t *testing.T) {
	for _, perBatch := range []bool{false, true} {
		sendMem := memory.NewCheckedAllocator(memory.NewGoAllocator())
		recvMem := memory.NewCheckedAllocator(memory.NewGoAllocator())
		batches := []arrow.RecordBatch{
			richBatch(sendMem, 7, 1),
			richBatch(sendMem, 3, 2),
			benchBatch(5),
			benchBatch(6),
			dictBatch(sendMem, "a", "b", "a"),
			dictBatch(sendMem, "c", "c"),
			richBatch(sendMem, 2, 3),
			richBatch(sendMem, 4, 4),
		}
		enc := &encoder{perBatch: perBatch}
		dec := &decoder{mem: recvMem}
		for i, b := range batches {
			f, err := enc.encode(engine.Message{Batch: b, From: i})
			if err != nil {
				t.Fatalf("perBatch=%v, batch %d: %v", perBatch, i, err)
			}
			m, err := dec.decode(f)
			if err != nil {
				t.Fatalf("perBatch=%v, batch %d: %v", perBatch, i, err)
			}
			if m.From != i || !array.RecordEqual(m.Batch, b) {
				t.Errorf("perBatch=%v, batch %d = %v, want %v", perBatch, i, m.Batch, b)
			}
			m.Batch.Release()
			b.Release()
		}
		dec.close()
		enc.close()
		sendMem.AssertSize(t, 0)
		recvMem.AssertSize(t, 0)
	}
}

// The schema goes once per IPC stream: later frames are smaller.
func TestCodecSendsSchemaOnce(t *testing.T) {
	b := benchBatch(1)
	defer b.Release()
	enc := &encoder{}
	f1, err := enc.encode(engine.Message{Batch: b})
	if err != nil {
		t.Fatal(err)
	}
	f2, err := enc.encode(engine.Message{Batch: b})
	if err != nil {
		t.Fatal(err)
	}
	if len(f2.Batch) >= len(f1.Batch) {
		t.Errorf("second frame %d bytes, first %d: schema sent again", len(f2.Batch), len(f1.Batch))
	}
}
