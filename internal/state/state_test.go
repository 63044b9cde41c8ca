package state

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

func open(t *testing.T) (*Storage, string) {
	t.Helper()
	dir := t.TempDir()
	s, err := Open(context.Background(), "file://"+dir)
	if err != nil {
		t.Fatal(err)
	}
	return s, dir
}

func TestOpen(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "a", "b")
	s, err := Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	if s.URL() != "file://"+dir {
		t.Fatalf("url %s", s.URL())
	}
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		t.Fatalf("dir not created: %v", err)
	}
	for _, bad := range []string{"", "s3://bucket/x", "gs://b"} {
		if _, err := Open(ctx, bad); err == nil {
			t.Errorf("Open(%q) accepted", bad)
		}
	}
}

func TestWriteReadListDelete(t *testing.T) {
	ctx := context.Background()
	s, dir := open(t)
	if err := s.Write(ctx, "jobs/j/x.bin", []byte("hello")); err != nil {
		t.Fatal(err)
	}
	got, err := s.Read(ctx, "jobs/j/x.bin")
	if err != nil || string(got) != "hello" {
		t.Fatalf("read %q %v", got, err)
	}
	if _, err := s.Read(ctx, "jobs/j/missing"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("missing: %v", err)
	}
	for _, bad := range []string{"../escape", "/abs/path"} {
		if err := s.Write(ctx, bad, nil); err == nil {
			t.Errorf("write to %q accepted", bad)
		}
	}
	// A write in progress (a temp file) is never listed.
	if err := os.WriteFile(filepath.Join(dir, "jobs", "j", ".tmp-123"), []byte("partial"), 0o600); err != nil {
		t.Fatal(err)
	}
	_ = s.Write(ctx, "jobs/j/y.bin", []byte("y"))
	keys, err := s.List(ctx, "jobs/j/")
	if err != nil || !slices.Equal(keys, []string{"jobs/j/x.bin", "jobs/j/y.bin"}) {
		t.Fatalf("list %v %v", keys, err)
	}
	if err := s.DeletePrefix(ctx, "jobs/j/x"); err != nil {
		t.Fatal(err)
	}
	keys, _ = s.List(ctx, "jobs/")
	if !slices.Equal(keys, []string{"jobs/j/y.bin"}) {
		t.Fatalf("after delete %v", keys)
	}
}

func TestRetainKeepsNewestAndPinned(t *testing.T) {
	ctx := context.Background()
	s, dir := open(t)
	for e := int64(1); e <= 6; e++ {
		for sub := 0; sub < 2; sub++ {
			if err := s.Write(ctx, SubtaskKey("job_1", e, "window_2", sub), []byte{byte(e)}); err != nil {
				t.Fatal(err)
			}
		}
	}
	_ = s.Write(ctx, SubtaskKey("job_2", 1, "op", 0), []byte("other job"))
	epochs, err := s.Epochs(ctx, "job_1")
	if err != nil || !slices.Equal(epochs, []int64{1, 2, 3, 4, 5, 6}) {
		t.Fatalf("epochs %v %v", epochs, err)
	}
	deleted, err := s.Retain(ctx, "job_1", 2, 3)
	if err != nil || !slices.Equal(deleted, []int64{1, 2, 4}) {
		t.Fatalf("deleted %v %v", deleted, err)
	}
	epochs, _ = s.Epochs(ctx, "job_1")
	if !slices.Equal(epochs, []int64{3, 5, 6}) {
		t.Fatalf("kept %v", epochs)
	}
	if _, err := os.Stat(filepath.Join(dir, strings.TrimSuffix(EpochPrefix("job_1", 1), "/"))); !os.IsNotExist(err) {
		t.Fatalf("epoch folder left behind: %v", err)
	}
	if e, _ := s.Epochs(ctx, "job_2"); !slices.Equal(e, []int64{1}) {
		t.Fatalf("other job touched: %v", e)
	}
	if !strings.HasPrefix(SubtaskKey("job_1", 12, "op", 3), "jobs/job_1/checkpoints/0000000012/op/subtask-0003") {
		t.Fatal(SubtaskKey("job_1", 12, "op", 3))
	}
}

func TestRecordsRoundTripAndCorruption(t *testing.T) {
	ctx := context.Background()
	s, dir := open(t)
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "key", Type: arrow.BinaryTypes.String},
		{Name: "count", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
	}, nil)
	b := array.NewRecordBuilder(memory.DefaultAllocator, schema)
	defer b.Release()
	b.Field(0).(*array.StringBuilder).AppendValues([]string{"a", "b", "c"}, nil)
	b.Field(1).(*array.Int64Builder).AppendValues([]int64{1, 0, 3}, []bool{true, false, true})
	rec := b.NewRecordBatch()
	defer rec.Release()

	key := SubtaskKey("job_1", 1, "agg_1", 0)
	fi, err := s.WriteRecords(ctx, key, schema, []arrow.RecordBatch{rec, rec})
	n := fi.Bytes
	if err != nil || n <= 0 {
		t.Fatalf("write %d %v", n, err)
	}
	gotSchema, recs, err := s.ReadRecords(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		for _, r := range recs {
			r.Release()
		}
	}()
	if !gotSchema.Equal(schema) || len(recs) != 2 {
		t.Fatalf("schema %v, %d batches", gotSchema, len(recs))
	}
	for _, r := range recs {
		if !array.RecordEqual(r, rec) {
			t.Fatalf("batch differs: %v", r)
		}
	}

	// A truncated file is an error, never a partial read.
	p := filepath.Join(dir, filepath.FromSlash(key))
	data, _ := os.ReadFile(p)
	if err := os.WriteFile(p, data[:len(data)/2], 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.ReadRecords(ctx, key); err == nil {
		t.Fatal("truncated snapshot read without error")
	}
}
