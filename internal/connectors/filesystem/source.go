package filesystem

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/compute"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"

	"github.com/runnel-dev/runnel/internal/connectors"
	"github.com/runnel-dev/runnel/internal/connectors/filesystem/jsonl"
	"github.com/runnel-dev/runnel/internal/engine"
	"github.com/runnel-dev/runnel/internal/engine/expr"
)

// BatchRows caps the rows of one batch a source emits.
const BatchRows = 4096

// maxLineBytes bounds one JSON line, so a file without newlines cannot
// exhaust memory.
const maxLineBytes = 64 << 20

// Source is one subtask of a filesystem source. It reads every
// parallelism-th file of the sorted listing, starting at its own index, so
// that each file is read by exactly one subtask.
type Source struct {
	cfg     Config
	cols    []connectors.Column
	schema  *arrow.Schema // cols then the event-time column
	tsCol   int           // index in cols of the event-time column, or -1
	subtask int
	par     int
	// pos is how many rows of each file were handed on (checkpointed);
	// done marks the files read to the end.
	pos  map[string]int64
	done map[string]bool
}

// Run implements engine.Source.
func (s *Source) Run(ctx context.Context, stop <-chan struct{}, out engine.Collector) error {
	files, err := listFiles(s.cfg.Path, s.cfg.Format)
	if err != nil {
		return engine.WithDomain(engine.DomainExternal, err)
	}
	if s.pos == nil {
		s.pos, s.done = map[string]int64{}, map[string]bool{}
	}
	var path string
	var skip int64 // rows of path a restored position says were handed on
	emit := func(b arrow.RecordBatch) error {
		defer b.Release()
		select {
		case <-stop:
			return errStopped
		default:
		}
		n := b.NumRows()
		if skip >= n {
			skip -= n
			return nil
		}
		if skip > 0 {
			rest := b.NewSlice(skip, n)
			defer rest.Release()
			b, skip = rest, 0
		}
		if err := out.Collect(ctx, b); err != nil {
			return err
		}
		// After Collect: a checkpoint taken inside it describes the
		// position before this batch.
		s.pos[path] += b.NumRows()
		return nil
	}
	for i := s.subtask; i < len(files); i += s.par {
		if err := ctx.Err(); err != nil {
			return err
		}
		path = files[i]
		if s.done[path] {
			continue
		}
		skip = s.pos[path]
		if s.cfg.Format == FormatParquet {
			err = s.readParquet(ctx, files[i], emit)
		} else {
			err = s.readJSON(files[i], emit)
		}
		if err == nil {
			s.done[path] = true
		}
		if errors.Is(err, errStopped) {
			return nil
		}
		var downstream *engine.TaskError
		if err != nil && !errors.As(err, &downstream) {
			// Files that cannot be read or parsed are the outside world's;
			// errors of the operators downstream keep their own.
			return engine.WithDomain(engine.DomainExternal, err)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

var errStopped = errors.New("stopped")

func (s *Source) readJSON(path string, emit func(arrow.RecordBatch) error) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("open %w", err)
	}
	defer f.Close()
	fields := make([]arrow.Field, len(s.cols))
	for i, c := range s.cols {
		fields[i] = arrow.Field{Name: c.Name, Type: c.Type, Nullable: c.Nullable}
	}
	dec, err := jsonl.NewDecoder(fields)
	if err != nil {
		return err
	}
	defer dec.Release()
	lines := make([]int, 0, BatchRows) // line number of each buffered row
	flush := func() error {
		b := dec.NewBatch()
		defer b.Release()
		out, err := s.withEventTime(b, func(row int) string { return fmt.Sprintf("file %s line %d", path, lines[row]) })
		lines = lines[:0]
		if err != nil {
			return err
		}
		return emit(out)
	}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64<<10), maxLineBytes)
	for line := 1; sc.Scan(); line++ {
		text := sc.Bytes()
		if len(trimSpace(text)) == 0 {
			continue
		}
		if err := dec.Append(text); err != nil {
			return fmt.Errorf("file %s line %d: %w", path, line, err)
		}
		lines = append(lines, line)
		if dec.Len() >= BatchRows {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("read %s: %w", path, err)
	}
	if dec.Len() > 0 {
		return flush()
	}
	return nil
}

func trimSpace(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t' || b[0] == '\r') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t' || b[len(b)-1] == '\r') {
		b = b[:len(b)-1]
	}
	return b
}

func (s *Source) readParquet(ctx context.Context, path string, emit func(arrow.RecordBatch) error) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("open %w", err)
	}
	defer f.Close()
	pf, err := file.NewParquetReader(f)
	if err != nil {
		return fmt.Errorf("file %s: not a Parquet file: %w", path, err)
	}
	defer pf.Close()
	fr, err := pqarrow.NewFileReader(pf, pqarrow.ArrowReadProperties{BatchSize: BatchRows}, memory.DefaultAllocator)
	if err != nil {
		return fmt.Errorf("file %s: %w", path, err)
	}
	rr, err := fr.GetRecordReader(ctx, nil, nil)
	if err != nil {
		return fmt.Errorf("file %s: %w", path, err)
	}
	defer rr.Release()
	var first int64 // row number in the file of the batch's first row
	for rr.Next() {
		rec := rr.RecordBatch()
		out, err := s.project(ctx, rec, path, first)
		first += rec.NumRows()
		if err != nil {
			return err
		}
		if err := emit(out); err != nil {
			return err
		}
	}
	if err := rr.Err(); err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("file %s: %w", path, err)
	}
	return nil
}

// project picks the table's columns out of a Parquet batch by name,
// casting where the file's type differs, and adds the event time.
func (s *Source) project(ctx context.Context, rec arrow.RecordBatch, path string, first int64) (arrow.RecordBatch, error) {
	cols := make([]arrow.Array, len(s.cols))
	defer func() {
		for _, c := range cols {
			if c != nil {
				c.Release()
			}
		}
	}()
	fields := make([]arrow.Field, len(s.cols))
	for i, c := range s.cols {
		fields[i] = arrow.Field{Name: c.Name, Type: c.Type, Nullable: c.Nullable}
		idx := rec.Schema().FieldIndices(c.Name)
		if len(idx) == 0 {
			return nil, fmt.Errorf("file %s has no column '%s'", path, c.Name)
		}
		a := rec.Column(idx[0])
		if arrow.TypeEqual(a.DataType(), c.Type) {
			a.Retain()
		} else {
			// Checked, except that finer timestamps may be truncated.
			co := compute.SafeCastOptions(c.Type)
			co.AllowTimeTruncate = true
			cast, err := compute.CastArray(ctx, a, co)
			if err != nil {
				return nil, fmt.Errorf("file %s: column '%s' is %s and cannot be read as %s: %w", path, c.Name, a.DataType(), expr.SQLTypeName(c.Type), err)
			}
			a = cast
		}
		cols[i] = a
		if !c.Nullable && a.NullN() > 0 {
			return nil, fmt.Errorf("file %s: column '%s' is NOT NULL but has nulls", path, c.Name)
		}
	}
	b := array.NewRecordBatch(arrow.NewSchema(fields, nil), cols, rec.NumRows())
	defer b.Release()
	return s.withEventTime(b, func(row int) string { return fmt.Sprintf("file %s row %d", path, first+int64(row)+1) })
}

// withEventTime appends the event-time column to a batch of the table's
// columns: the event_time_field column in microseconds, or now.
func (s *Source) withEventTime(b arrow.RecordBatch, where func(row int) string) (arrow.RecordBatch, error) {
	n := int(b.NumRows())
	ts := make([]int64, n)
	if s.tsCol >= 0 {
		col := b.Column(s.tsCol).(*array.Timestamp)
		unit := col.DataType().(*arrow.TimestampType).Unit
		for i := range ts {
			if col.IsNull(i) {
				return nil, fmt.Errorf("%s: event time column '%s' is null", where(i), s.cfg.EventTimeField)
			}
			ts[i] = col.Value(i).ToTime(unit).UnixMicro()
		}
	} else {
		t := time.Now().UnixMicro()
		for i := range ts {
			ts[i] = t
		}
	}
	tsData := array.NewData(expr.Timestamp, n, []*memory.Buffer{nil, memory.NewBufferBytes(arrow.Int64Traits.CastToBytes(ts))}, nil, 0, 0)
	tsArr := array.MakeFromData(tsData)
	tsData.Release()
	defer tsArr.Release()
	cols := append(append([]arrow.Array(nil), b.Columns()...), tsArr)
	return array.NewRecordBatch(s.schema, cols, int64(n)), nil
}
