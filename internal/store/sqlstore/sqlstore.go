// Package sqlstore implements store.Store once over database/sql. The sqlite
// and postgres packages open the databases, apply the migrations and hand a
// Dialect describing the few differences (placeholders, error codes, how
// concurrent limit checks are serialised).
//
// Queries are written with ? placeholders and rewritten to $n for dialects
// that number them.
package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/runnel-dev/runnel/internal/store"
)

// DefaultPageLimit is the page size used when Page.Limit is not positive
// (Arroyo's default).
const DefaultPageLimit = 10

// Dialect describes what differs between database engines.
type Dialect struct {
	// Name is used in error messages ("sqlite", "postgres").
	Name string
	// NumberedParams rewrites ? placeholders to $1, $2, ….
	NumberedParams bool
	// IsUniqueViolation reports whether err is a unique or primary key
	// violation; such errors are returned wrapping store.ErrDuplicate.
	IsUniqueViolation func(error) bool
	// LockOrg, when not empty, is executed first in every transaction that
	// checks the running-jobs limit, with the org id as its one argument.
	// It must block until no other such transaction of the org is open, so
	// that two concurrent starts cannot both see room under the limit.
	// SQLite needs none: its write transactions begin IMMEDIATE and are
	// serialised already.
	LockOrg string
}

// Store is the database/sql implementation of store.Store.
type Store struct {
	d Dialect
	// w runs transactions and writes, r plain reads. For SQLite w has a
	// single connection (one writer, no SQLITE_BUSY inside the process)
	// while r has several read-only ones; for PostgreSQL they are the same
	// pool.
	w, r *sql.DB
	// now is the clock for updated_at columns the store sets itself.
	now func() time.Time
}

var _ store.Store = (*Store)(nil)

// New returns a Store over w (writes) and r (reads); r may be w. The
// schema must already be migrated. Close closes both.
func New(d Dialect, w, r *sql.DB) *Store {
	if r == nil {
		r = w
	}
	if d.IsUniqueViolation == nil {
		d.IsUniqueViolation = func(error) bool { return false }
	}
	return &Store{d: d, w: w, r: r, now: time.Now}
}

// Close closes the database handles.
func (s *Store) Close() error {
	err := s.w.Close()
	if s.r != s.w {
		err = errors.Join(err, s.r.Close())
	}
	if err != nil {
		return fmt.Errorf("%s: close: %w", s.d.Name, err)
	}
	return nil
}

// querier is what *sql.DB and *sql.Tx have in common.
type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// conn runs ?-placeholder queries on a querier in the store's dialect.
type conn struct {
	q querier
	d *Dialect
}

func (c conn) exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	return c.q.ExecContext(ctx, c.d.rebind(query), args...)
}

func (c conn) query(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	return c.q.QueryContext(ctx, c.d.rebind(query), args...)
}

func (c conn) queryRow(ctx context.Context, query string, args ...any) *sql.Row {
	return c.q.QueryRowContext(ctx, c.d.rebind(query), args...)
}

// rebind rewrites ? to $n when the dialect numbers its parameters. The
// store's queries never contain a literal ?.
func (d *Dialect) rebind(query string) string {
	if !d.NumberedParams || !strings.Contains(query, "?") {
		return query
	}
	var b strings.Builder
	b.Grow(len(query) + 16)
	n := 0
	for i := 0; i < len(query); i++ {
		if query[i] == '?' {
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteByte(query[i])
	}
	return b.String()
}

func (s *Store) reader() conn { return conn{q: s.r, d: &s.d} }

// inTx runs fn in a write transaction, committing when it returns nil.
func (s *Store) inTx(ctx context.Context, fn func(c conn) error) error {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("%s: begin: %w", s.d.Name, err)
	}
	if err := fn(conn{q: tx, d: &s.d}); err != nil {
		_ = tx.Rollback() // the original error matters more than a failed rollback
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("%s: commit: %w", s.d.Name, err)
	}
	return nil
}

// wrap adds context to a database error, turning unique violations into
// store.ErrDuplicate (the driver error stays in the chain).
func (s *Store) wrap(err error, format string, args ...any) error {
	msg := fmt.Sprintf(format, args...)
	if s.d.IsUniqueViolation(err) {
		return fmt.Errorf("%s: %w: %w", msg, store.ErrDuplicate, err)
	}
	return fmt.Errorf("%s: %w", msg, err)
}

func notFound(what, id string) error {
	return fmt.Errorf("%s %q: %w", what, id, store.ErrNotFound)
}
