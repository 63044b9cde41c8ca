package exchange

import (
	"errors"
	"fmt"
	"io"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/runnel-dev/runnel/internal/engine"
	"github.com/runnel-dev/runnel/internal/rpc/runnelpb"
)

// The batch frames of one Exchange stream, concatenated, are a sequence of
// Arrow IPC streams, and each frame holds whole IPC messages ending with
// one record batch. The encoder keeps one IPC stream open while the
// schema stays the same, so the schema is sent once; when it changes (or
// the schema has dictionaries, whose replacement IPC streams cannot carry)
// the frame starts by ending the previous IPC stream and opening another.
// A frame that is a complete IPC stream of its own is valid too.

// encoder is the sending side of one Exchange stream.
type encoder struct {
	// perBatch makes every frame a self-contained IPC stream (schema,
	// batch, end), trading speed for independence between frames.
	perBatch bool

	out    frameWriter
	w      *ipc.Writer // nil when no IPC stream is open
	schema *arrow.Schema
	broken error
}

// frameWriter collects the IPC bytes of the frame being built.
type frameWriter struct{ b []byte }

func (f *frameWriter) Write(p []byte) (int, error) {
	f.b = append(f.b, p...)
	return len(p), nil
}

// encode turns m into a frame. The batch is only read.
func (e *encoder) encode(m engine.Message) (*runnelpb.DataFrame, error) {
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
	if e.broken != nil {
		return nil, e.broken
	}
	b, err := e.encodeBatch(m.Batch)
	if err != nil {
		// The receiver's view of the IPC stream is now unknown.
		e.broken = fmt.Errorf("encode batch: %w", err)
		return nil, e.broken
	}
	f.Batch = b
	return f, nil
}

func (e *encoder) encodeBatch(b arrow.RecordBatch) ([]byte, error) {
	// A fresh buffer per frame, since gRPC may still hold the last one;
	// sized up front so that the batch is not copied by growing.
	e.out.b = make([]byte, 0, ipcSize(b))
	if e.w != nil && !e.schema.Equal(b.Schema()) {
		if err := e.w.Close(); err != nil {
			return nil, err
		}
		e.w = nil
	}
	if e.w == nil {
		e.w = ipc.NewWriter(&e.out, ipc.WithSchema(b.Schema()))
		e.schema = b.Schema()
	}
	if err := e.w.Write(b); err != nil {
		return nil, err
	}
	if e.perBatch || hasDictionary(b.Schema()) {
		if err := e.w.Close(); err != nil {
			return nil, err
		}
		e.w = nil
	}
	return e.out.b, nil
}

func (e *encoder) close() {
	if e.w != nil {
		_ = e.w.Close()
		e.w = nil
	}
}

func hasDictionary(s *arrow.Schema) bool {
	for _, f := range s.Fields() {
		if hasDict(f.Type) {
			return true
		}
	}
	return false
}

func hasDict(t arrow.DataType) bool {
	switch t := t.(type) {
	case *arrow.DictionaryType:
		return true
	case arrow.NestedType:
		for _, f := range t.Fields() {
			if hasDict(f.Type) {
				return true
			}
		}
	}
	return false
}

// ipcSize estimates the IPC encoding of b: its buffers, padded, plus room
// for the schema and the batch metadata.
func ipcSize(b arrow.RecordBatch) int {
	n := 1024 + 256*int(b.NumCols())
	for _, c := range b.Columns() {
		n += dataSize(c.Data())
	}
	return n
}

func dataSize(d arrow.ArrayData) int {
	n := 0
	for _, buf := range d.Buffers() {
		if buf != nil {
			n += buf.Len() + 64 // alignment padding
		}
	}
	for _, c := range d.Children() {
		n += dataSize(c)
	}
	return n
}

// decoder is the receiving side of one Exchange stream.
type decoder struct {
	mem memory.Allocator
	src frameReader
	r   *ipc.Reader // nil until the first batch
}

// frameReader hands the IPC reader the bytes of the frames received so
// far. The reader never reads past the batch it is asked for, so it never
// sees the end of this source.
type frameReader struct{ bufs [][]byte }

func (f *frameReader) Read(p []byte) (int, error) {
	if len(f.bufs) == 0 {
		return 0, io.EOF
	}
	n := copy(p, f.bufs[0])
	f.bufs[0] = f.bufs[0][n:]
	if len(f.bufs[0]) == 0 {
		f.bufs[0] = nil // do not pin a consumed frame
		f.bufs = f.bufs[1:]
	}
	return n, nil
}

// decode turns a frame back into a message whose batch, if any, owns its
// memory (allocated from d.mem); the receiver releases it.
func (d *decoder) decode(f *runnelpb.DataFrame) (engine.Message, error) {
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
	b, err := d.decodeBatch(f.Batch)
	if err != nil {
		return engine.Message{}, fmt.Errorf("decode batch: %w", err)
	}
	m.Batch = b
	return m, nil
}

func (d *decoder) decodeBatch(frame []byte) (arrow.RecordBatch, error) {
	if len(frame) == 0 {
		return nil, errors.New("empty batch")
	}
	d.src.bufs = append(d.src.bufs, frame)
	// At most twice: the frame may first end the current IPC stream.
	for range 2 {
		if d.r == nil {
			r, err := ipc.NewReader(&d.src, ipc.WithAllocator(d.mem))
			if err != nil {
				return nil, err
			}
			d.r = r
		}
		if d.r.Next() {
			b := d.r.RecordBatch()
			b.Retain()
			return b, nil
		}
		if err := d.r.Err(); err != nil {
			return nil, err
		}
		d.r.Release()
		d.r = nil
	}
	return nil, errors.New("no record batch in frame")
}

func (d *decoder) close() {
	if d.r != nil {
		d.r.Release()
		d.r = nil
	}
	d.src.bufs = nil
}
