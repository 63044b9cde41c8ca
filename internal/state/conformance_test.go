package state

import (
	"context"
	"errors"
	"fmt"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
)

// startFakeS3 serves an in-memory S3 on a random loopback port with the
// given buckets and returns its endpoint.
func startFakeS3(t *testing.T, buckets ...string) string {
	t.Helper()
	backend := s3mem.New()
	for _, b := range buckets {
		if err := backend.CreateBucket(b); err != nil {
			t.Fatal(err)
		}
	}
	srv := httptest.NewServer(gofakes3.New(backend, gofakes3.WithLogger(gofakes3.DiscardLog())).Server())
	t.Cleanup(srv.Close)
	return srv.URL
}

// fakeS3Client talks to endpoint with fixed test credentials, leaving the
// process environment alone.
func fakeS3Client(endpoint string) *s3.Client {
	return s3.New(s3.Options{
		Region:       defaultRegion,
		BaseEndpoint: aws.String(endpoint),
		UsePathStyle: true,
		Credentials:  credentials.NewStaticCredentialsProvider("test-key", "test-secret", ""),
	})
}

// backends are the implementations every conformance test runs against.
var backends = []struct {
	name string
	open func(t *testing.T) *Storage
}{
	{"file", func(t *testing.T) *Storage {
		s, err := Open(context.Background(), "file://"+t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		return s
	}},
	{"s3", func(t *testing.T) *Storage {
		client := fakeS3Client(startFakeS3(t, "ckpt"))
		// A neighbour outside the storage prefix must never be seen or touched.
		if _, err := client.PutObject(context.Background(), &s3.PutObjectInput{
			Bucket: aws.String("ckpt"), Key: aws.String("other/jobs/j/x.bin"), Body: strings.NewReader("not ours"),
		}); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if _, err := client.HeadObject(context.Background(), &s3.HeadObjectInput{
				Bucket: aws.String("ckpt"), Key: aws.String("other/jobs/j/x.bin"),
			}); err != nil {
				t.Errorf("object outside the prefix was touched: %v", err)
			}
		})
		return &Storage{blobs: newS3Store(client, "ckpt", "root/"), url: "s3://ckpt/root"}
	}},
}

func forEachBackend(t *testing.T, test func(t *testing.T, s *Storage)) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) { test(t, b.open(t)) })
	}
}

func TestConformanceWriteReadList(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s *Storage) {
		ctx := context.Background()
		if err := s.Write(ctx, "jobs/j/x.bin", []byte("first")); err != nil {
			t.Fatal(err)
		}
		if err := s.Write(ctx, "jobs/j/x.bin", []byte("hello")); err != nil {
			t.Fatal(err)
		}
		got, err := s.Read(ctx, "jobs/j/x.bin")
		if err != nil || string(got) != "hello" {
			t.Fatalf("read %q %v", got, err)
		}
		if err := s.Write(ctx, "jobs/j/empty", nil); err != nil {
			t.Fatal(err)
		}
		if got, err := s.Read(ctx, "jobs/j/empty"); err != nil || len(got) != 0 {
			t.Fatalf("empty file: %q %v", got, err)
		}
		for _, missing := range []string{"jobs/j/missing", "nowhere/at/all"} {
			if _, err := s.Read(ctx, missing); !errors.Is(err, ErrNotFound) {
				t.Fatalf("read of %s: %v, want ErrNotFound", missing, err)
			}
			if _, err := s.Stat(ctx, missing); !errors.Is(err, ErrNotFound) {
				t.Fatalf("stat of %s: %v, want ErrNotFound", missing, err)
			}
		}
		for _, bad := range []string{"", "../escape", "/abs/path", "a/../../b", "a//b", "a/", `a\b`, "."} {
			if err := s.Write(ctx, bad, nil); err == nil {
				t.Errorf("write to %q accepted", bad)
			}
			if _, err := s.Read(ctx, bad); err == nil || errors.Is(err, ErrNotFound) {
				t.Errorf("read of %q: %v, want a bad key error", bad, err)
			}
		}
		_ = s.Write(ctx, "jobs/j/y.bin", []byte("y"))
		_ = s.Write(ctx, "jobs/j2/z.bin", []byte("z"))
		_ = s.Write(ctx, "jobs/j/sub/deep.bin", []byte("d"))
		for prefix, want := range map[string][]string{
			"jobs/j/":    {"jobs/j/empty", "jobs/j/sub/deep.bin", "jobs/j/x.bin", "jobs/j/y.bin"},
			"jobs/j/x":   {"jobs/j/x.bin"},
			"jobs/j":     {"jobs/j/empty", "jobs/j/sub/deep.bin", "jobs/j/x.bin", "jobs/j/y.bin", "jobs/j2/z.bin"},
			"":           {"jobs/j/empty", "jobs/j/sub/deep.bin", "jobs/j/x.bin", "jobs/j/y.bin", "jobs/j2/z.bin"},
			"jobs/nope/": nil,
			"nope":       nil,
		} {
			keys, err := s.List(ctx, prefix)
			if err != nil || !slices.Equal(keys, want) {
				t.Errorf("list %q: %v %v, want %v", prefix, keys, err, want)
			}
		}
	})
}

func TestConformanceCancelledContext(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s *Storage) {
		if err := s.Write(context.Background(), "jobs/j/x.bin", []byte("x")); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if _, err := s.List(ctx, "jobs/"); !errors.Is(err, context.Canceled) {
			t.Errorf("list with a cancelled context: %v", err)
		}
	})
}

func TestConformanceDeletePrefix(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s *Storage) {
		ctx := context.Background()
		for _, k := range []string{"jobs/j/x.bin", "jobs/j/xy.bin", "jobs/j/y.bin", "jobs/j/sub/a", "jobs/j2/a"} {
			if err := s.Write(ctx, k, []byte(k)); err != nil {
				t.Fatal(err)
			}
		}
		// A bare prefix matches names, not folders.
		if err := s.DeletePrefix(ctx, "jobs/j/x"); err != nil {
			t.Fatal(err)
		}
		if keys, _ := s.List(ctx, "jobs/"); !slices.Equal(keys, []string{"jobs/j/sub/a", "jobs/j/y.bin", "jobs/j2/a"}) {
			t.Fatalf("after deleting jobs/j/x: %v", keys)
		}
		// A folder goes with everything in it, and not its namesake sibling.
		if err := s.DeletePrefix(ctx, "jobs/j/"); err != nil {
			t.Fatal(err)
		}
		if keys, _ := s.List(ctx, ""); !slices.Equal(keys, []string{"jobs/j2/a"}) {
			t.Fatalf("after deleting jobs/j/: %v", keys)
		}
		// Deleting what is not there is not an error.
		for _, p := range []string{"jobs/j/", "jobs/none", "jobs/none/"} {
			if err := s.DeletePrefix(ctx, p); err != nil {
				t.Errorf("deleting absent %s: %v", p, err)
			}
		}
		for _, bad := range []string{"../", "/", "/jobs/", "jobs/../../"} {
			if err := s.DeletePrefix(ctx, bad); err == nil {
				t.Errorf("deleting %q accepted", bad)
			}
			if _, err := s.List(ctx, bad); err == nil {
				t.Errorf("listing %q accepted", bad)
			}
		}
	})
}

func TestConformanceEpochsAndRetain(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s *Storage) {
		ctx := context.Background()
		for e := int64(1); e <= 6; e++ {
			for sub := 0; sub < 2; sub++ {
				if err := s.Write(ctx, SubtaskKey("job_1", e, "window_2", sub), []byte{byte(e)}); err != nil {
					t.Fatal(err)
				}
			}
		}
		_ = s.Write(ctx, SubtaskKey("job_2", 1, "op", 0), []byte("other job"))
		_ = s.Write(ctx, "jobs/job_1/checkpoints/not-an-epoch/x", []byte("stray"))
		epochs, err := s.Epochs(ctx, "job_1")
		if err != nil || !slices.Equal(epochs, []int64{1, 2, 3, 4, 5, 6}) {
			t.Fatalf("epochs %v %v", epochs, err)
		}
		if e, err := s.Epochs(ctx, "job_none"); err != nil || len(e) != 0 {
			t.Fatalf("epochs of an unknown job: %v %v", e, err)
		}
		deleted, err := s.Retain(ctx, "job_1", 2, 3)
		if err != nil || !slices.Equal(deleted, []int64{1, 2, 4}) {
			t.Fatalf("deleted %v %v", deleted, err)
		}
		if epochs, _ := s.Epochs(ctx, "job_1"); !slices.Equal(epochs, []int64{3, 5, 6}) {
			t.Fatalf("kept %v", epochs)
		}
		if keys, _ := s.List(ctx, EpochPrefix("job_1", 1)); len(keys) != 0 {
			t.Fatalf("files of a deleted epoch remain: %v", keys)
		}
		if e, _ := s.Epochs(ctx, "job_2"); !slices.Equal(e, []int64{1}) {
			t.Fatalf("other job touched: %v", e)
		}
		// keep < 1 still keeps the newest epoch.
		if deleted, err := s.Retain(ctx, "job_1", 0); err != nil || !slices.Equal(deleted, []int64{3, 5}) {
			t.Fatalf("retain 0: %v %v", deleted, err)
		}
	})
}

func testRecord(t *testing.T) (*arrow.Schema, arrow.RecordBatch) {
	t.Helper()
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "key", Type: arrow.BinaryTypes.String},
		{Name: "count", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
	}, nil)
	b := array.NewRecordBuilder(memory.DefaultAllocator, schema)
	defer b.Release()
	b.Field(0).(*array.StringBuilder).AppendValues([]string{"a", "b", "c"}, nil)
	b.Field(1).(*array.Int64Builder).AppendValues([]int64{1, 0, 3}, []bool{true, false, true})
	rec := b.NewRecordBatch()
	t.Cleanup(rec.Release)
	return schema, rec
}

func TestConformanceRecordsStatAndCorruption(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s *Storage) {
		ctx := context.Background()
		schema, rec := testRecord(t)
		key := SubtaskKey("job_1", 1, "agg_1", 0)
		fi, err := s.WriteRecords(ctx, key, schema, []arrow.RecordBatch{rec, rec})
		if err != nil || fi.Bytes <= 0 || fi.Key != key {
			t.Fatalf("write %+v %v", fi, err)
		}
		st, err := s.Stat(ctx, key)
		if err != nil || st != fi {
			t.Fatalf("stat %+v %v, written %+v", st, err, fi)
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
		if _, _, err := s.ReadRecords(ctx, SubtaskKey("job_1", 1, "agg_1", 9)); !errors.Is(err, ErrNotFound) {
			t.Fatalf("records of a missing file: %v", err)
		}

		// A truncated or garbled file is an error, never a partial read,
		// and Stat no longer matches what was written.
		data, err := s.Read(ctx, key)
		if err != nil {
			t.Fatal(err)
		}
		garbled := slices.Clone(data)
		garbled[len(garbled)/2] ^= 0xff
		for name, bad := range map[string][]byte{"truncated": data[:len(data)/2], "garbage": []byte("not arrow at all")} {
			if err := s.Write(ctx, key, bad); err != nil {
				t.Fatal(err)
			}
			if _, _, err := s.ReadRecords(ctx, key); err == nil || errors.Is(err, ErrNotFound) {
				t.Errorf("%s snapshot: %v, want a decoding error", name, err)
			}
		}
		if err := s.Write(ctx, key, garbled); err != nil {
			t.Fatal(err)
		}
		if st, err := s.Stat(ctx, key); err != nil || st.CRC == fi.CRC || st.Bytes != fi.Bytes {
			t.Fatalf("stat of a garbled file %+v %v, written %+v", st, err, fi)
		}
	})
}

// TestConformanceManyKeys lists more keys than one S3 page holds (1000),
// so that pagination of listing and batching of deletes are exercised.
func TestConformanceManyKeys(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s *Storage) {
		ctx := context.Background()
		const epochs, perEpoch = 3, 401 // 1203 files
		var want []string
		for e := int64(1); e <= epochs; e++ {
			for sub := 0; sub < perEpoch; sub++ {
				want = append(want, SubtaskKey("big", e, "op", sub))
			}
		}
		// Writes go in parallel, as subtasks do, to keep the test quick.
		var wg sync.WaitGroup
		errs := make(chan error, len(want))
		work := make(chan string)
		for range 8 {
			wg.Go(func() {
				for k := range work {
					if err := s.Write(ctx, k, []byte(k)); err != nil {
						errs <- err
					}
				}
			})
		}
		for _, k := range want {
			work <- k
		}
		close(work)
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		keys, err := s.List(ctx, "jobs/big/")
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(keys, want) {
			t.Fatalf("listed %d keys, want %d (first difference near %v)", len(keys), len(want), firstDiff(keys, want))
		}
		if e, err := s.Epochs(ctx, "big"); err != nil || !slices.Equal(e, []int64{1, 2, 3}) {
			t.Fatalf("epochs %v %v", e, err)
		}
		if err := s.DeletePrefix(ctx, "jobs/big/checkpoints/"); err != nil {
			t.Fatal(err)
		}
		if keys, err := s.List(ctx, "jobs/big/"); err != nil || len(keys) != 0 {
			t.Fatalf("after deleting all: %d keys, %v", len(keys), err)
		}
	})
}

func firstDiff(a, b []string) string {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return fmt.Sprintf("index %d: %s vs %s", i, a[i], b[i])
		}
	}
	return fmt.Sprintf("lengths %d vs %d", len(a), len(b))
}
