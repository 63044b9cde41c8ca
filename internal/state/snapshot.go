package state

import (
	"bytes"
	"context"
	"fmt"
	"hash/crc32"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// FileInfo describes a stored file: its size and CRC-32C, which the
// controller checks before it declares a checkpoint complete.
type FileInfo struct {
	Key   string `json:"key"`
	Bytes int64  `json:"bytes"`
	CRC   uint32 `json:"crc32c"`
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// WriteRecords stores batches of one schema at key as an Arrow IPC file, the
// format operator state snapshots use: columnar, typed, cheap to read back.
func (s *Storage) WriteRecords(ctx context.Context, key string, schema *arrow.Schema, recs []arrow.RecordBatch) (FileInfo, error) {
	var buf bytes.Buffer
	// Growing a buffer of tens of MiB step by step costs more than
	// encoding into it: size it for the batches up front.
	size := 1 << 12
	for _, r := range recs {
		for _, c := range r.Columns() {
			for _, b := range c.Data().Buffers() {
				if b != nil {
					size += b.Len() + 64
				}
			}
		}
	}
	buf.Grow(size)
	w, err := ipc.NewFileWriter(&buf, ipc.WithSchema(schema), ipc.WithAllocator(memory.DefaultAllocator))
	if err != nil {
		return FileInfo{}, fmt.Errorf("encoding %s: %w", key, err)
	}
	for _, r := range recs {
		if err := w.Write(r); err != nil {
			return FileInfo{}, fmt.Errorf("encoding %s: %w", key, err)
		}
	}
	if err := w.Close(); err != nil {
		return FileInfo{}, fmt.Errorf("encoding %s: %w", key, err)
	}
	fi := FileInfo{Key: key, Bytes: int64(buf.Len()), CRC: crc32.Checksum(buf.Bytes(), castagnoli)}
	return fi, s.Write(ctx, key, buf.Bytes())
}

// Stat reads the file at key back and returns its size and checksum.
func (s *Storage) Stat(ctx context.Context, key string) (FileInfo, error) {
	data, err := s.Read(ctx, key)
	if err != nil {
		return FileInfo{}, err
	}
	return FileInfo{Key: key, Bytes: int64(len(data)), CRC: crc32.Checksum(data, castagnoli)}, nil
}

// ReadRecords loads the batches stored at key. The caller releases them.
// A file that is not a whole Arrow IPC file (truncated, corrupted) is an
// error, never a partial read.
func (s *Storage) ReadRecords(ctx context.Context, key string) (*arrow.Schema, []arrow.RecordBatch, error) {
	data, err := s.Read(ctx, key)
	if err != nil {
		return nil, nil, err
	}
	r, err := ipc.NewFileReader(bytes.NewReader(data), ipc.WithAllocator(memory.DefaultAllocator))
	if err != nil {
		return nil, nil, fmt.Errorf("decoding %s: %w", key, err)
	}
	defer r.Close()
	var recs []arrow.RecordBatch
	for i := 0; i < r.NumRecords(); i++ {
		rec, err := r.RecordBatch(i)
		if err != nil {
			for _, done := range recs {
				done.Release()
			}
			return nil, nil, fmt.Errorf("decoding %s batch %d: %w", key, i, err)
		}
		rec.Retain()
		recs = append(recs, rec)
	}
	return r.Schema(), recs, nil
}
