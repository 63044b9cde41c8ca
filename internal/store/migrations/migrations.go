// Package migrations holds the metadata store's versioned schema, embedded
// in the binary, one directory of goose SQL files per dialect, and applies
// it with goose.
package migrations

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"hash/fnv"
	"io/fs"

	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
)

// Dialect selects the SQL flavour of the migrations.
type Dialect string

// Supported dialects; each names a directory of this package.
const (
	SQLite   Dialect = "sqlite"
	Postgres Dialect = "postgres"
)

//go:embed sqlite/*.sql postgres/*.sql
var files embed.FS

// Files returns the migration files of dialect d (for inspection and tests).
func Files(d Dialect) (fs.FS, error) {
	switch d {
	case SQLite, Postgres:
	default:
		return nil, fmt.Errorf("migrations: unknown dialect %q", d)
	}
	sub, err := fs.Sub(files, string(d))
	if err != nil {
		return nil, fmt.Errorf("migrations: %s: %w", d, err)
	}
	return sub, nil
}

// Migrate applies every pending migration of dialect d to db and returns the
// schema version it is at afterwards. The goose version table is created
// unqualified, so on PostgreSQL it lives in the connection's current schema
// (the first schema of search_path), next to the tables it describes.
//
// On PostgreSQL, concurrent Migrate calls against the same schema (an api
// and a controller starting together) are serialised with a session
// advisory lock keyed on the schema name.
func Migrate(ctx context.Context, db *sql.DB, d Dialect) (int64, error) {
	p, err := newProvider(ctx, db, d)
	if err != nil {
		return 0, err
	}
	if _, err := p.Up(ctx); err != nil {
		return 0, fmt.Errorf("migrations: apply %s: %w", d, err)
	}
	v, err := p.GetDBVersion(ctx)
	if err != nil {
		return 0, fmt.Errorf("migrations: read %s version: %w", d, err)
	}
	return v, nil
}

// Latest returns the highest version among the embedded migrations of d.
func Latest(d Dialect) (int64, error) {
	fsys, err := Files(d)
	if err != nil {
		return 0, err
	}
	// goose's collection needs no database; a nil *sql.DB is refused, so
	// parse names the way goose does instead.
	entries, err := fs.Glob(fsys, "*.sql")
	if err != nil {
		return 0, fmt.Errorf("migrations: list %s: %w", d, err)
	}
	var latest int64
	for _, name := range entries {
		v, err := goose.NumericComponent(name)
		if err != nil {
			return 0, fmt.Errorf("migrations: %s/%s: %w", d, name, err)
		}
		latest = max(latest, v)
	}
	return latest, nil
}

func newProvider(ctx context.Context, db *sql.DB, d Dialect) (*goose.Provider, error) {
	fsys, err := Files(d)
	if err != nil {
		return nil, err
	}
	// The global registry holds Go migrations registered by init functions;
	// Runnel has none and must not pick up anyone else's.
	opts := []goose.ProviderOption{goose.WithDisableGlobalRegistry(true)}
	var gd goose.Dialect
	switch d {
	case SQLite:
		gd = goose.DialectSQLite3
	case Postgres:
		gd = goose.DialectPostgres
		var schema sql.NullString
		if err := db.QueryRowContext(ctx, "SELECT current_schema()").Scan(&schema); err != nil {
			return nil, fmt.Errorf("migrations: read current schema: %w", err)
		}
		if !schema.Valid {
			return nil, errors.New("migrations: no current schema: search_path names no existing schema")
		}
		// One lock per schema: stores in different schemas (parallel tests,
		// tenants) migrate independently.
		h := fnv.New64a()
		h.Write([]byte("runnel-migrations:" + schema.String))
		locker, err := lock.NewPostgresSessionLocker(
			lock.WithLockID(int64(h.Sum64())),
			lock.WithLockTimeout(1, 120),
		)
		if err != nil {
			return nil, fmt.Errorf("migrations: locker: %w", err)
		}
		opts = append(opts, goose.WithSessionLocker(locker))
	}
	p, err := goose.NewProvider(gd, db, fsys, opts...)
	if err != nil {
		return nil, fmt.Errorf("migrations: %s provider: %w", d, err)
	}
	return p, nil
}
