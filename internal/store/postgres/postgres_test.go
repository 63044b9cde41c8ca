package postgres_test

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"

	"github.com/runnel-dev/runnel/internal/store"
	"github.com/runnel-dev/runnel/internal/store/migrations"
	"github.com/runnel-dev/runnel/internal/store/postgres"
	"github.com/runnel-dev/runnel/internal/store/storetest"
)

const defaultURL = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

// server returns the base URL and an admin connection to the test server.
// An unreachable server fails the test unless RUNNEL_TEST_SKIP_POSTGRES=1:
// a silently skipped backend is an untested backend.
func server(t *testing.T) (string, *sql.DB) {
	t.Helper()
	if os.Getenv("RUNNEL_TEST_SKIP_POSTGRES") == "1" {
		t.Skip("RUNNEL_TEST_SKIP_POSTGRES=1")
	}
	base := os.Getenv("RUNNEL_TEST_POSTGRES_URL")
	if base == "" {
		base = defaultURL
	}
	admin, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatalf("postgres at %s: %v (set RUNNEL_TEST_SKIP_POSTGRES=1 to skip)", base, err)
	}
	t.Cleanup(func() { admin.Close() })
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if err := admin.PingContext(ctx); err != nil {
		t.Fatalf("postgres at %s is unreachable: %v (set RUNNEL_TEST_SKIP_POSTGRES=1 to skip)", base, err)
	}
	return base, admin
}

// freshSchema creates an empty schema, dropped when the test ends, and
// returns base with search_path set to it, so parallel tests and runs
// never see each other's tables (goose's version table included).
func freshSchema(t *testing.T, base string, admin *sql.DB) (string, string) {
	t.Helper()
	var b [6]byte
	_, _ = rand.Read(b[:])
	schema := "runnel_test_" + hex.EncodeToString(b[:])
	if _, err := admin.ExecContext(t.Context(), "CREATE SCHEMA "+schema); err != nil {
		t.Fatalf("create schema: %v", err)
	}
	t.Cleanup(func() {
		// t.Context is already cancelled during cleanup.
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := admin.ExecContext(ctx, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
		}
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("parse %s: %v", base, err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String(), schema
}

func TestStore(t *testing.T) {
	base, admin := server(t)
	storetest.Run(t, func(t *testing.T) store.Store {
		u, _ := freshSchema(t, base, admin)
		s, err := postgres.Open(t.Context(), u)
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		return s
	})
}

// TestMigrate checks that the schema and goose's version table are created
// in the connection's schema, and that migrating again changes nothing.
func TestMigrate(t *testing.T) {
	ctx := t.Context()
	base, admin := server(t)
	u, schema := freshSchema(t, base, admin)
	latest, err := migrations.Latest(migrations.Postgres)
	if err != nil || latest < 1 {
		t.Fatalf("Latest = %d, %v", latest, err)
	}
	if v, err := postgres.Migrate(ctx, u); err != nil || v != latest {
		t.Fatalf("Migrate = %d, %v; want %d", v, err, latest)
	}
	for _, table := range []string{"goose_db_version", "pipelines", "jobs", "job_statuses", "job_log_messages", "checkpoints", "controller_leader"} {
		var n int
		if err := admin.QueryRowContext(ctx, "SELECT COUNT(*) FROM pg_tables WHERE schemaname = $1 AND tablename = $2", schema, table).Scan(&n); err != nil || n != 1 {
			t.Errorf("table %s.%s: %d, %v; want it there", schema, table, n, err)
		}
	}
	if v, err := postgres.Migrate(ctx, u); err != nil || v != latest {
		t.Fatalf("second Migrate = %d, %v", v, err)
	}
	var rows int
	if err := admin.QueryRowContext(ctx, "SELECT COUNT(*) FROM "+schema+".goose_db_version WHERE version_id = $1", latest).Scan(&rows); err != nil || rows != 1 {
		t.Errorf("version %d recorded %d times, %v; want once", latest, rows, err)
	}

	// Two stores opening the same fresh schema at once: the migration lock
	// lets one migrate and the other find the work done.
	u2, _ := freshSchema(t, base, admin)
	errs := make(chan error, 2)
	for range 2 {
		go func() {
			s, err := postgres.Open(ctx, u2)
			if err == nil {
				err = s.Close()
			}
			errs <- err
		}()
	}
	for range 2 {
		if err := <-errs; err != nil {
			t.Errorf("concurrent Open: %v", err)
		}
	}
}

func TestOpenErrors(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	// Nothing listens on port 1; the error must come back, not hang.
	if s, err := postgres.Open(ctx, "postgres://postgres@127.0.0.1:1/test?sslmode=disable&connect_timeout=2"); err == nil {
		s.Close()
		t.Error("Open of an unreachable server succeeded")
	}
	if _, err := postgres.Open(ctx, "postgres://[::1"); err == nil {
		t.Error("Open of a malformed url succeeded")
	}
}
