package sqlite_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"

	_ "modernc.org/sqlite"

	"github.com/runnel-dev/runnel/internal/store"
	"github.com/runnel-dev/runnel/internal/store/migrations"
	"github.com/runnel-dev/runnel/internal/store/sqlite"
	"github.com/runnel-dev/runnel/internal/store/storetest"
)

func TestStore(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		s, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "runnel.db"))
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		return s
	})
}

func TestInMemory(t *testing.T) {
	s, err := sqlite.Open(t.Context(), ":memory:")
	if err != nil {
		t.Fatalf("Open(:memory:): %v", err)
	}
	defer s.Close()
	if _, _, err := s.ListPipelines(t.Context(), "org", store.Page{}); err != nil {
		t.Fatalf("ListPipelines: %v", err)
	}
}

// TestMigrate checks that the schema is applied once, recorded, reopened
// without change, and that the file is configured as Open promises.
func TestMigrate(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "runnel.db")
	latest, err := migrations.Latest(migrations.SQLite)
	if err != nil || latest < 1 {
		t.Fatalf("Latest = %d, %v", latest, err)
	}
	v, err := sqlite.Migrate(ctx, path)
	if err != nil || v != latest {
		t.Fatalf("Migrate = %d, %v; want %d", v, err, latest)
	}
	// Opening a migrated file applies nothing and keeps the data.
	s, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	p := store.Pipeline{OrgID: "org", ID: store.NewID("pl"), Name: "n", Job: store.Job{ID: store.NewID("job")}}
	if err := s.CreatePipeline(ctx, p, 0); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if v, err := sqlite.Migrate(ctx, path); err != nil || v != latest {
		t.Fatalf("second Migrate = %d, %v", v, err)
	}
	s, err = sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.GetPipeline(ctx, "org", p.ID); err != nil {
		t.Fatalf("pipeline lost across reopen: %v", err)
	}

	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var mode string
	if err := db.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil || mode != "wal" {
		t.Errorf("journal_mode = %q, %v; want wal", mode, err)
	}
	var applied int
	if err := db.QueryRowContext(ctx, "SELECT COUNT(*) FROM goose_db_version WHERE version_id = ? AND is_applied", latest).Scan(&applied); err != nil || applied != 1 {
		t.Errorf("goose_db_version has %d rows for version %d, %v; want 1", applied, latest, err)
	}
}

func TestOpenErrors(t *testing.T) {
	ctx := context.Background()
	for _, path := range []string{"", "/x?mode=ro", filepath.Join(t.TempDir(), "missing", "dir", "runnel.db")} {
		if s, err := sqlite.Open(ctx, path); err == nil {
			s.Close()
			t.Errorf("Open(%q) succeeded, want an error", path)
		}
	}
}
