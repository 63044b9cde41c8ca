package filesystem

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"

	"github.com/runnel-dev/runnel/internal/connectors/filesystem/jsonl"
	"github.com/runnel-dev/runnel/internal/engine"
)

// PendingFile is a completed file not yet visible under its final name.
type PendingFile struct {
	Temp  string
	Final string
}

// formatWriter writes one file's contents in one format.
type formatWriter interface {
	write(b arrow.RecordBatch) error
	// finish writes whatever the format buffers (footer, row group).
	finish() error
	abort()
}

// Sink is one subtask of a filesystem sink. Its work is split into the
// steps a two-phase commit needs, so that checkpoints can drive them:
//
//   - Process writes rows to a hidden temporary file, opened on the first
//     row (a subtask that receives nothing writes no file);
//   - Flush completes the file (format footer, fsync, close) and returns it
//     as a PendingFile: durable, but not visible;
//   - Publish renames a pending file to its final name, atomically;
//   - Abort deletes the open and pending files.
//
// A checkpoint barrier flushes and pre-commits (twophase.go): the pending
// files go into the checkpoint, and once the checkpoint is complete Commit
// publishes them; a run restored from it publishes them too, so a crash
// between the two loses nothing. Finish (end of input) flushes and
// publishes; Close aborts whatever was neither published nor pre-committed,
// so a failed or cancelled run leaves no final-named file behind.
type Sink struct {
	dir     string
	format  Format
	ext     string
	base    string // final name without sequence and extension
	schema  *arrow.Schema
	cols    []int // columns written: all but the event-time column
	enc     *jsonl.Encoder
	seq     int // files opened so far
	f       *os.File
	bw      *bufio.Writer
	w       formatWriter
	tmp     string
	final   string
	pending []PendingFile

	subtask   int
	par       int
	committed *precommits // files handed to checkpoints, by epoch
}

// NewSink makes the sink of one subtask, writing batches of the given
// schema (whose event-time column is left out) as files named
// <prefix>-<subtask>-<run id>.<ext> in the table's directory.
func NewSink(cfg Config, schema *arrow.Schema, prefix string, info engine.TaskInfo) (*Sink, error) {
	s := &Sink{
		dir:    cfg.Path,
		format: cfg.Format,
		ext:    extensions[cfg.Format][0],
		base:   fmt.Sprintf("%s-%05d-%d", prefix, info.Subtask, info.RunID),

		subtask:   info.Subtask,
		par:       info.Parallelism,
		committed: &precommits{byEpoch: map[int64][]PendingFile{}},
	}
	var fields []arrow.Field
	for i, f := range schema.Fields() {
		if f.Name == engine.TimestampField {
			continue
		}
		fields = append(fields, f)
		s.cols = append(s.cols, i)
	}
	s.schema = arrow.NewSchema(fields, nil)
	switch cfg.Format {
	case FormatJSON, FormatDebeziumJSON:
		enc, err := jsonl.NewEncoder(s.schema)
		if err != nil {
			return nil, fmt.Errorf("filesystem sink: %w", err)
		}
		s.enc = enc
	case FormatParquet:
		if _, err := pqarrow.ToParquet(s.schema, writerProps(), arrowProps()); err != nil {
			return nil, fmt.Errorf("filesystem sink: cannot write this schema as Parquet: %w", err)
		}
	}
	return s, nil
}

// Process implements engine.Operator.
func (s *Sink) Process(_ context.Context, b arrow.RecordBatch, _ engine.Collector) error {
	n := b.NumRows()
	if n == 0 {
		return nil
	}
	if s.w == nil {
		if err := s.open(); err != nil {
			return err
		}
	}
	cols := make([]arrow.Array, len(s.cols))
	for i, c := range s.cols {
		cols[i] = b.Column(c)
	}
	rec := array.NewRecordBatch(s.schema, cols, n)
	defer rec.Release()
	if err := s.w.write(rec); err != nil {
		return fmt.Errorf("write %s: %w", s.tmp, err)
	}
	return nil
}

func (s *Sink) open() error {
	if err := os.MkdirAll(s.dir, 0o755); err != nil {
		return fmt.Errorf("filesystem sink: %w", err)
	}
	name := s.base
	if s.seq > 0 {
		name = fmt.Sprintf("%s-%d", s.base, s.seq)
	}
	s.seq++
	s.final = filepath.Join(s.dir, name+s.ext)
	s.tmp = filepath.Join(s.dir, "."+name+s.ext+".tmp")
	f, err := os.OpenFile(s.tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o644)
	if err != nil {
		return fmt.Errorf("filesystem sink: %w", err)
	}
	s.f = f
	s.bw = bufio.NewWriterSize(f, 1<<20)
	if s.format == FormatParquet {
		pw, err := newParquetWriter(s.bw, s.schema)
		if err != nil {
			s.discard()
			return err
		}
		s.w = pw
	} else {
		s.w = &jsonWriter{enc: s.enc, w: s.bw, changelog: s.format == FormatDebeziumJSON}
	}
	return nil
}

// Flush completes the open file and returns it as pending; nil if no file
// is open.
func (s *Sink) Flush(context.Context) (*PendingFile, error) {
	if s.w == nil {
		return nil, nil
	}
	err := s.w.finish()
	if err == nil {
		err = s.bw.Flush()
	}
	if err == nil {
		err = s.f.Sync()
	}
	if cerr := s.f.Close(); err == nil {
		err = cerr
	}
	p := PendingFile{Temp: s.tmp, Final: s.final}
	s.w, s.f, s.bw = nil, nil, nil
	if err != nil {
		_ = os.Remove(p.Temp)
		return nil, fmt.Errorf("complete %s: %w", p.Temp, err)
	}
	s.pending = append(s.pending, p)
	return &p, nil
}

// Publish makes a pending file visible under its final name. Publishing a
// file again once it is visible is a no-op, so a restore may repeat it.
func (s *Sink) Publish(ctx context.Context, p PendingFile) error {
	if err := publish(p); err != nil {
		return err
	}
	for i, q := range s.pending {
		if q == p {
			s.pending = append(s.pending[:i], s.pending[i+1:]...)
			break
		}
	}
	return nil
}

// publish renames a completed file to its final name and makes the rename
// durable. It touches no sink state, so commits may run beside the task.
func publish(p PendingFile) error {
	if err := os.Rename(p.Temp, p.Final); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			if _, serr := os.Stat(p.Final); serr == nil {
				return nil
			}
		}
		return fmt.Errorf("commit %s: %w", p.Final, err)
	}
	// The rename is durable once the directory is synced.
	return syncDir(filepath.Dir(p.Final))
}

// Abort deletes the open file and every pending one.
func (s *Sink) Abort() error {
	var errs []error
	if s.w != nil {
		s.discard()
	}
	for _, p := range s.pending {
		if err := os.Remove(p.Temp); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	s.pending = nil
	return errors.Join(errs...)
}

// discard closes and deletes the open file.
func (s *Sink) discard() {
	if s.w != nil {
		s.w.abort()
	}
	if s.f != nil {
		_ = s.f.Close()
	}
	_ = os.Remove(s.tmp)
	s.w, s.f, s.bw = nil, nil, nil
}

// Finish implements engine.Operator: the input ended, so complete and
// publish the file, and whatever earlier barriers pre-committed: a
// checkpoint still in flight when the input ends is never completed.
func (s *Sink) Finish(ctx context.Context, _ engine.Collector) error {
	p, err := s.Flush(ctx)
	if err != nil {
		return err
	}
	if p != nil {
		if err := s.Publish(ctx, *p); err != nil {
			return err
		}
	}
	return s.Commit(ctx, math.MaxInt64)
}

// Close implements engine.Closer: whatever was not committed is deleted.
func (s *Sink) Close() error { return s.Abort() }

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	return nil
}

// jsonWriter writes JSON lines.
type jsonWriter struct {
	enc *jsonl.Encoder
	w   io.Writer
	buf []byte
	// changelog writes Debezium-style change lines instead of rows.
	changelog bool
}

func (j *jsonWriter) write(b arrow.RecordBatch) error {
	if j.changelog {
		j.buf = j.enc.AppendChanges(j.buf[:0], b)
	} else {
		j.buf = j.enc.AppendBatch(j.buf[:0], b)
	}
	_, err := j.w.Write(j.buf)
	return err
}

func (j *jsonWriter) finish() error { return nil }
func (j *jsonWriter) abort()        {}
