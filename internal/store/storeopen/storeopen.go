// Package storeopen opens the metadata store named by a URL. It lives apart
// from package store because the implementations import store.
package storeopen

import (
	"context"
	"fmt"
	"strings"

	"github.com/runnel-dev/runnel/internal/store"
	"github.com/runnel-dev/runnel/internal/store/postgres"
	"github.com/runnel-dev/runnel/internal/store/sqlite"
)

// Open opens the store at url, applying pending migrations:
//
//	sqlite://PATH                  SQLite file PATH (sqlite:///abs/path.db, sqlite://rel/path.db, sqlite://:memory:)
//	postgres://… or postgresql://… PostgreSQL
func Open(ctx context.Context, url string) (store.Store, error) {
	kind, target, err := parse(url)
	if err != nil {
		return nil, err
	}
	if kind == "sqlite" {
		return sqlite.Open(ctx, target)
	}
	return postgres.Open(ctx, target)
}

// Migrate applies pending migrations to the store at url (same forms as
// Open) and returns the schema version it is at afterwards; for `runnel
// migrate`.
func Migrate(ctx context.Context, url string) (int64, error) {
	kind, target, err := parse(url)
	if err != nil {
		return 0, err
	}
	if kind == "sqlite" {
		return sqlite.Migrate(ctx, target)
	}
	return postgres.Migrate(ctx, target)
}

// IsPostgres reports whether url names a PostgreSQL store, which several
// processes can share (SQLite stores are one process's).
func IsPostgres(url string) bool {
	kind, _, err := parse(url)
	return err == nil && kind == "postgres"
}

// parse splits a store URL into its kind and what that kind's Open takes.
func parse(url string) (kind, target string, err error) {
	switch {
	case strings.HasPrefix(url, "sqlite://"):
		path := strings.TrimPrefix(url, "sqlite://")
		if path == "" {
			return "", "", fmt.Errorf("store url %q: missing file path (sqlite:///abs/path.db or sqlite://rel/path.db)", url)
		}
		return "sqlite", path, nil
	case strings.HasPrefix(url, "postgres://"), strings.HasPrefix(url, "postgresql://"):
		return "postgres", url, nil
	}
	scheme, _, ok := strings.Cut(url, "://")
	if !ok {
		return "", "", fmt.Errorf("store url %q has no scheme: expected sqlite://PATH or postgres://…", redact(url))
	}
	return "", "", fmt.Errorf("store url scheme %q is not supported: expected sqlite://PATH or postgres://…", scheme)
}

// redact hides what could be a password in a URL that failed to parse.
func redact(url string) string {
	if at := strings.LastIndex(url, "@"); at >= 0 {
		return "…" + url[at:]
	}
	return url
}
