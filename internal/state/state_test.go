package state

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// Tests of what only the local directory backend does; the behaviour both
// backends share is in conformance_test.go.

func TestOpenLocal(t *testing.T) {
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
	s2, err := Open(ctx, "file://"+dir)
	if err != nil || s2.URL() != s.URL() {
		t.Fatalf("file url: %v %v", s2, err)
	}
	for bad, want := range map[string]string{
		"":                     "empty",
		"gs://b":               `unsupported scheme "gs"`,
		"http://example.com/x": `unsupported scheme "http"`,
		"s3://":                "no bucket",
		"s3://b?bogus=1":       `unknown parameter "bogus"`,
		"::":                   "missing protocol scheme",
	} {
		if _, err := Open(ctx, bad); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Open(%q): %v, want an error saying %q", bad, err, want)
		}
	}
}

func TestLocalTempFilesAndFolders(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, err := Open(ctx, "file://"+dir)
	if err != nil {
		t.Fatal(err)
	}
	key := SubtaskKey("job_1", 1, "op", 0)
	if err := s.Write(ctx, key, []byte("x")); err != nil {
		t.Fatal(err)
	}
	// A write in progress (a temp file) is never listed...
	folder := filepath.Join(dir, filepath.FromSlash(strings.TrimSuffix(EpochPrefix("job_1", 1), "/")))
	if err := os.WriteFile(filepath.Join(folder, "op", ".tmp-123"), []byte("partial"), 0o600); err != nil {
		t.Fatal(err)
	}
	if keys, err := s.List(ctx, "jobs/"); err != nil || !slices.Equal(keys, []string{key}) {
		t.Fatalf("list %v %v", keys, err)
	}
	// ...and a finished write leaves none behind.
	entries, _ := os.ReadDir(filepath.Join(folder, "op"))
	if len(entries) != 2 {
		t.Fatalf("folder holds %d entries, want the file and the planted temp file", len(entries))
	}
	// Deleting the epoch folder takes the folder and leftovers with it.
	if err := s.DeletePrefix(ctx, EpochPrefix("job_1", 1)); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(folder); !os.IsNotExist(err) {
		t.Fatalf("epoch folder left behind: %v", err)
	}
	// Listing under a path whose parent is a file finds nothing.
	_ = s.Write(ctx, "jobs/f", []byte("file"))
	if keys, err := s.List(ctx, "jobs/f/g/"); err != nil || len(keys) != 0 {
		t.Fatalf("list under a file: %v %v", keys, err)
	}
}
