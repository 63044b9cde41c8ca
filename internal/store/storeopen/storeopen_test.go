package storeopen

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/runnel-dev/runnel/internal/store"
	"github.com/runnel-dev/runnel/internal/store/migrations"
)

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		url, kind, target string
	}{
		{"sqlite:///var/lib/runnel/runnel.db", "sqlite", "/var/lib/runnel/runnel.db"},
		{"sqlite://data/runnel.db", "sqlite", "data/runnel.db"},
		{"sqlite://:memory:", "sqlite", ":memory:"},
		{"postgres://u:p@db:5432/runnel?sslmode=disable", "postgres", "postgres://u:p@db:5432/runnel?sslmode=disable"},
		{"postgresql://db/runnel", "postgres", "postgresql://db/runnel"},
	} {
		kind, target, err := parse(tc.url)
		if err != nil || kind != tc.kind || target != tc.target {
			t.Errorf("parse(%q) = %q, %q, %v; want %q, %q", tc.url, kind, target, err, tc.kind, tc.target)
		}
	}
	for _, tc := range []struct{ url, mention string }{
		{"mysql://u:secret@db/runnel", `"mysql"`},
		{"sqlite://", "missing file path"},
		{"/var/lib/runnel.db", "no scheme"},
		{"u:secret@db", "no scheme"},
	} {
		_, _, err := parse(tc.url)
		if err == nil || !strings.Contains(err.Error(), tc.mention) {
			t.Errorf("parse(%q) error = %v, want one mentioning %s", tc.url, err, tc.mention)
		}
		if err != nil && strings.Contains(err.Error(), "secret") {
			t.Errorf("parse(%q) error leaks the password: %v", tc.url, err)
		}
	}
}

func TestOpenAndMigrateSQLite(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "runnel.db")
	latest, err := migrations.Latest(migrations.SQLite)
	if err != nil {
		t.Fatal(err)
	}
	if v, err := Migrate(ctx, "sqlite://"+path); err != nil || v != latest {
		t.Fatalf("Migrate = %d, %v; want %d", v, err, latest)
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("database file: %v", err)
	}
	s, err := Open(ctx, "sqlite://"+path)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer s.Close()
	if _, _, err := s.ListPipelines(ctx, store.DefaultOrg, store.Page{}); err != nil {
		t.Fatalf("ListPipelines: %v", err)
	}
	if _, err := Open(ctx, "redis://localhost"); err == nil {
		t.Error("Open(redis://) succeeded")
	}
	if _, err := Migrate(ctx, "redis://localhost"); err == nil {
		t.Error("Migrate(redis://) succeeded")
	}
}

func TestIsPostgres(t *testing.T) {
	for url, want := range map[string]bool{
		"postgres://u@h/db":      true,
		"postgresql://u@h/db":    true,
		"sqlite:///tmp/r.db":     false,
		"sqlite://":              false,
		"mysql://u@h/db":         false,
		"postgres-ish/no-scheme": false,
	} {
		if got := IsPostgres(url); got != want {
			t.Errorf("IsPostgres(%q) = %v, want %v", url, got, want)
		}
	}
}
