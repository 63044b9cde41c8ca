package postgres_test

import (
	"context"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"

	"github.com/runnel-dev/runnel/internal/store"
	"github.com/runnel-dev/runnel/internal/store/migrations"
	"github.com/runnel-dev/runnel/internal/store/postgres"
	"github.com/runnel-dev/runnel/internal/store/postgres/pgtest"
	"github.com/runnel-dev/runnel/internal/store/storetest"
)

func TestStore(t *testing.T) {
	base, admin := pgtest.Server(t)
	storetest.Run(t, func(t *testing.T) store.Store {
		u, _ := pgtest.NewSchema(t, base, admin)
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
	base, admin := pgtest.Server(t)
	u, schema := pgtest.NewSchema(t, base, admin)
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
	u2, _ := pgtest.NewSchema(t, base, admin)
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
