package exchange

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/runnel-dev/runnel/internal/engine"
	"github.com/runnel-dev/runnel/internal/rpc/runnelpb"
)

// encode turns m into a frame. A batch becomes a self-contained Arrow IPC
// stream (schema and one record batch), as the protocol defines it. The
// batch is only read.
func encode(m engine.Message) (*runnelpb.DataFrame, error) {
	f := &runnelpb.DataFrame{
		Signal:    int32(m.Signal),
		From:      int64(m.From),
		Input:     int64(m.Input),
		Watermark: m.Watermark,
		Epoch:     m.Epoch,
	}
	if m.Signal != engine.SignalNone || m.Batch == nil {
		return f, nil
	}
	var buf bytes.Buffer
	w := ipc.NewWriter(&buf, ipc.WithSchema(m.Batch.Schema()))
	if err := w.Write(m.Batch); err != nil {
		_ = w.Close()
		return nil, fmt.Errorf("encode batch: %w", err)
	}
	if err := w.Close(); err != nil {
		return nil, fmt.Errorf("encode batch: %w", err)
	}
	f.Batch = buf.Bytes()
	return f, nil
}

// decode turns a frame back into a message whose batch, if any, owns its
// memory (allocated from mem); the receiver releases it.
func decode(f *runnelpb.DataFrame, mem memory.Allocator) (engine.Message, error) {
	m := engine.Message{
		Signal:    engine.Signal(f.Signal),
		From:      int(f.From),
		Input:     int(f.Input),
		Watermark: f.Watermark,
		Epoch:     f.Epoch,
	}
	if m.Signal < engine.SignalNone || m.Signal > engine.SignalBarrier {
		return engine.Message{}, fmt.Errorf("unknown signal %d", f.Signal)
	}
	if m.Signal != engine.SignalNone || len(f.Batch) == 0 {
		return m, nil
	}
	r, err := ipc.NewReader(bytes.NewReader(f.Batch), ipc.WithAllocator(mem))
	if err != nil {
		return engine.Message{}, fmt.Errorf("decode batch: %w", err)
	}
	defer r.Release()
	if !r.Next() {
		err := r.Err()
		if err == nil {
			err = errors.New("no record batch in frame")
		}
		return engine.Message{}, fmt.Errorf("decode batch: %w", err)
	}
	m.Batch = r.RecordBatch()
	m.Batch.Retain()
	return m, nil
}
