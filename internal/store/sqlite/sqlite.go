// Package sqlite opens Runnel's metadata store in an SQLite file with the
// pure-Go modernc.org/sqlite driver: the default store, needing nothing
// installed.
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"runtime"
	"strings"

	msqlite "modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/runnel-dev/runnel/internal/store"
	"github.com/runnel-dev/runnel/internal/store/migrations"
	"github.com/runnel-dev/runnel/internal/store/sqlstore"
)

// busyTimeoutMillis is how long a connection waits for another process's
// write lock before SQLITE_BUSY. Inside one process writers never contend:
// they share one connection.
const busyTimeoutMillis = 10000

// dialect is the sqlstore dialect of SQLite. LockOrg is not needed: the
// single writer connection and BEGIN IMMEDIATE serialise limit checks.
func dialect() sqlstore.Dialect {
	return sqlstore.Dialect{Name: "sqlite", IsUniqueViolation: isUniqueViolation}
}

func isUniqueViolation(err error) bool {
	var e *msqlite.Error
	if !errors.As(err, &e) {
		return false
	}
	return e.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE || e.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY
}

// Open opens (creating if needed) the store in the SQLite file at path and
// applies pending migrations. The file is put in WAL mode. Writes go
// through one connection whose transactions begin IMMEDIATE, so concurrent
// writers in this process queue instead of failing with SQLITE_BUSY and a
// read-then-write transaction cannot be overtaken; reads use a separate
// pool of read-only connections. path ":memory:" gives a private in-memory
// database on a single connection.
func Open(ctx context.Context, path string) (store.Store, error) {
	w, err := openWriter(ctx, path)
	if err != nil {
		return nil, err
	}
	if _, err := migrations.Migrate(ctx, w, migrations.SQLite); err != nil {
		_ = w.Close()
		return nil, fmt.Errorf("sqlite: %s: %w", path, err)
	}
	if path == ":memory:" {
		return sqlstore.New(dialect(), w, w), nil
	}
	r, err := sql.Open("sqlite", dsn(path, true))
	if err != nil {
		_ = w.Close()
		return nil, fmt.Errorf("sqlite: open %s for reading: %w", path, err)
	}
	r.SetMaxOpenConns(max(4, runtime.GOMAXPROCS(0)))
	r.SetMaxIdleConns(max(4, runtime.GOMAXPROCS(0)))
	if err := r.PingContext(ctx); err != nil {
		_ = w.Close()
		_ = r.Close()
		return nil, fmt.Errorf("sqlite: open %s for reading: %w", path, err)
	}
	return sqlstore.New(dialect(), w, r), nil
}

// Migrate applies pending migrations to the SQLite file at path and returns
// the schema version.
func Migrate(ctx context.Context, path string) (int64, error) {
	w, err := openWriter(ctx, path)
	if err != nil {
		return 0, err
	}
	defer w.Close()
	v, err := migrations.Migrate(ctx, w, migrations.SQLite)
	if err != nil {
		return 0, fmt.Errorf("sqlite: %s: %w", path, err)
	}
	return v, nil
}

func openWriter(ctx context.Context, path string) (*sql.DB, error) {
	if path == "" {
		return nil, errors.New("sqlite: empty database path")
	}
	if strings.ContainsAny(path, "?#") {
		// The driver reads parameters after '?'; refuse rather than
		// silently open a different file.
		return nil, fmt.Errorf("sqlite: database path %q must not contain '?' or '#'", path)
	}
	db, err := sql.Open("sqlite", dsn(path, false))
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	db.SetMaxOpenConns(1)
	db.SetMaxIdleConns(1)
	db.SetConnMaxIdleTime(0)
	db.SetConnMaxLifetime(0)
	if err := db.PingContext(ctx); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	return db, nil
}

// dsn builds the driver's data source name; every pragma is applied to each
// new connection.
func dsn(path string, readOnly bool) string {
	q := url.Values{}
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", busyTimeoutMillis))
	q.Add("_pragma", "foreign_keys(1)")
	if path != ":memory:" {
		q.Add("_pragma", "journal_mode(WAL)")
		// NORMAL is durable across application crashes in WAL mode and
		// only risks the last transactions on power loss.
		q.Add("_pragma", "synchronous(NORMAL)")
	}
	if readOnly {
		q.Add("_pragma", "query_only(1)")
	} else {
		q.Set("_txlock", "immediate")
	}
	// A plain name (not a file: URI) is opened as is; the driver strips
	// and interprets the query.
	return path + "?" + q.Encode()
}
