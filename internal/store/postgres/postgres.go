// Package postgres opens Runnel's metadata store in PostgreSQL through
// pgx's database/sql driver: the store for deployments past one machine.
package postgres

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/runnel-dev/runnel/internal/store"
	"github.com/runnel-dev/runnel/internal/store/migrations"
	"github.com/runnel-dev/runnel/internal/store/sqlstore"
)

// maxConns bounds the pool; the store's transactions are short.
const maxConns = 16

// dialect is the sqlstore dialect of PostgreSQL. Limit checks of one org
// are serialised with a transaction-scoped advisory lock keyed on the
// schema and org, because READ COMMITTED alone would let two concurrent
// starts both see room under the limit.
func dialect() sqlstore.Dialect {
	return sqlstore.Dialect{
		Name:              "postgres",
		NumberedParams:    true,
		IsUniqueViolation: isUniqueViolation,
		LockOrg:           `SELECT pg_advisory_xact_lock(hashtextextended('runnel-org:' || current_schema() || ':' || ?::text, 0))`,
	}
}

func isUniqueViolation(err error) bool {
	var e *pgconn.PgError
	return errors.As(err, &e) && e.Code == "23505" // unique_violation
}

// Open connects to the PostgreSQL database at url (postgres://… or
// postgresql://…, or a key=value connection string) and applies pending
// migrations. Tables live in the connection's current schema: set
// search_path (e.g. ?search_path=runnel in the URL) to use another than
// public.
func Open(ctx context.Context, url string) (store.Store, error) {
	db, err := open(ctx, url)
	if err != nil {
		return nil, err
	}
	if _, err := migrations.Migrate(ctx, db, migrations.Postgres); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("postgres: %w", err)
	}
	return sqlstore.New(dialect(), db, db), nil
}

// Migrate applies pending migrations to the database at url and returns the
// schema version.
func Migrate(ctx context.Context, url string) (int64, error) {
	db, err := open(ctx, url)
	if err != nil {
		return 0, err
	}
	defer db.Close()
	v, err := migrations.Migrate(ctx, db, migrations.Postgres)
	if err != nil {
		return 0, fmt.Errorf("postgres: %w", err)
	}
	return v, nil
}

func open(ctx context.Context, url string) (*sql.DB, error) {
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		// pgx masks the password in the quoted connection string.
		return nil, fmt.Errorf("postgres: %w", err)
	}
	db := stdlib.OpenDB(*cfg)
	db.SetMaxOpenConns(maxConns)
	db.SetMaxIdleConns(maxConns / 2)
	if err := db.PingContext(ctx); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("postgres: connect to %s:%d/%s: %w", cfg.Host, cfg.Port, cfg.Database, err)
	}
	return db, nil
}
