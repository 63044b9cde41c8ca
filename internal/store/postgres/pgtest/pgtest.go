// Package pgtest gives tests a PostgreSQL of their own: a fresh schema on
// the test server, dropped when the test ends, so that parallel tests and
// runs never see each other's tables.
package pgtest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" database/sql driver
)

// DefaultURL is the test server unless RUNNEL_TEST_POSTGRES_URL says
// otherwise.
const DefaultURL = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

// Server returns the test server's URL and an admin connection, closed when
// the test ends. An unreachable server fails the test unless
// RUNNEL_TEST_SKIP_POSTGRES=1: a silently skipped backend is an untested
// backend.
func Server(t testing.TB) (string, *sql.DB) {
	t.Helper()
	if os.Getenv("RUNNEL_TEST_SKIP_POSTGRES") == "1" {
		t.Skip("RUNNEL_TEST_SKIP_POSTGRES=1")
	}
	base := os.Getenv("RUNNEL_TEST_POSTGRES_URL")
	if base == "" {
		base = DefaultURL
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

// NewSchema creates an empty schema on the server behind admin, dropped
// when the test ends, and returns base with search_path set to it, and the
// schema's name.
func NewSchema(t testing.TB, base string, admin *sql.DB) (string, string) {
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

// Schema is Server and NewSchema in one: the URL of a fresh schema.
func Schema(t testing.TB) string {
	t.Helper()
	base, admin := Server(t)
	u, _ := NewSchema(t, base, admin)
	return u
}
