package filesystem

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/compress"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"

	"github.com/runnel-dev/runnel/internal/connectors"
	"github.com/runnel-dev/runnel/internal/engine/expr"
)

// rowGroupRows bounds a Parquet row group, and so the rows a sink buffers
// before writing them out.
const rowGroupRows = 64 * 1024

func writerProps() *parquet.WriterProperties {
	return parquet.NewWriterProperties(
		parquet.WithCompression(compress.Codecs.Snappy),
		parquet.WithMaxRowGroupLength(rowGroupRows),
	)
}

// arrowProps stores the Arrow schema in the file, so that types Parquet
// cannot express exactly (timestamp units and zones) read back unchanged.
func arrowProps() pqarrow.ArrowWriterProperties {
	return pqarrow.NewArrowWriterProperties(pqarrow.WithStoreSchema())
}

func checkParquet(t arrow.DataType) error {
	_, err := pqarrow.ToParquet(arrow.NewSchema([]arrow.Field{{Name: "c", Type: t, Nullable: true}}, nil), writerProps(), arrowProps())
	if err != nil {
		return fmt.Errorf("type %s is not supported in Parquet: %w", t, err)
	}
	return nil
}

// inferParquet reads the columns of the first Parquet file at path; none
// if there is no file yet (the table is then only a sink). Timestamps
// become the planner's TIMESTAMP (microseconds, no zone) and are cast on
// reading.
func inferParquet(path string) ([]connectors.Column, error) {
	files, err := listFiles(path, FormatParquet)
	if errors.Is(err, fs.ErrNotExist) || (err == nil && len(files) == 0) {
		return nil, nil // no files yet: a sink-only table
	}
	if err != nil {
		return nil, err
	}
	f, err := os.Open(files[0])
	if err != nil {
		return nil, fmt.Errorf("read the schema of %s: %w", files[0], err)
	}
	defer f.Close()
	pf, err := file.NewParquetReader(f)
	if err != nil {
		return nil, fmt.Errorf("read the schema of %s: %w", files[0], err)
	}
	defer pf.Close()
	fr, err := pqarrow.NewFileReader(pf, pqarrow.ArrowReadProperties{}, memory.DefaultAllocator)
	if err != nil {
		return nil, fmt.Errorf("read the schema of %s: %w", files[0], err)
	}
	sc, err := fr.Schema()
	if err != nil {
		return nil, fmt.Errorf("read the schema of %s: %w", files[0], err)
	}
	cols := make([]connectors.Column, 0, sc.NumFields())
	for _, fd := range sc.Fields() {
		t := fd.Type
		if t.ID() == arrow.TIMESTAMP {
			t = expr.Timestamp
		}
		cols = append(cols, connectors.Column{Name: fd.Name, Type: t, Nullable: fd.Nullable})
	}
	return cols, nil
}

// parquetWriter writes one Parquet file.
type parquetWriter struct {
	fw *pqarrow.FileWriter
}

func newParquetWriter(w io.Writer, schema *arrow.Schema) (*parquetWriter, error) {
	fw, err := pqarrow.NewFileWriter(schema, nopCloser{w}, writerProps(), arrowProps())
	if err != nil {
		return nil, fmt.Errorf("parquet writer: %w", err)
	}
	return &parquetWriter{fw: fw}, nil
}

func (p *parquetWriter) write(b arrow.RecordBatch) error {
	return p.fw.WriteBuffered(b)
}

// finish writes the buffered row group and the footer.
func (p *parquetWriter) finish() error {
	return p.fw.Close()
}

// abort releases the writer; the sink deletes the file.
func (p *parquetWriter) abort() { _ = p.fw.Close() }

// nopCloser keeps the Parquet writer from closing the file: the sink
// syncs and closes it itself.
type nopCloser struct{ io.Writer }

func (nopCloser) Close() error { return nil }
