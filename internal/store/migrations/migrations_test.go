package migrations

import (
	"database/sql"
	"io/fs"
	"slices"
	"testing"

	_ "modernc.org/sqlite"
)

// Every schema change must exist for both dialects, with the same version.
func TestDialectsHaveTheSameVersions(t *testing.T) {
	names := map[Dialect][]string{}
	for _, d := range []Dialect{SQLite, Postgres} {
		fsys, err := Files(d)
		if err != nil {
			t.Fatal(err)
		}
		ns, err := fs.Glob(fsys, "*.sql")
		if err != nil || len(ns) == 0 {
			t.Fatalf("%s: %v, %v", d, ns, err)
		}
		names[d] = ns
	}
	if !slices.Equal(names[SQLite], names[Postgres]) {
		t.Errorf("sqlite migrations %v != postgres migrations %v", names[SQLite], names[Postgres])
	}
	if _, err := Files("mysql"); err == nil {
		t.Error("Files(mysql) succeeded")
	}
}

// Up, down to nothing and up again on SQLite: the Down sections work and
// leave no table behind.
func TestUpDownUp(t *testing.T) {
	ctx := t.Context()
	db, err := sql.Open("sqlite", ":memory:")
	if err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(1) // one in-memory database
	defer db.Close()

	latest, err := Latest(SQLite)
	if err != nil {
		t.Fatal(err)
	}
	if v, err := Migrate(ctx, db, SQLite); err != nil || v != latest {
		t.Fatalf("Migrate = %d, %v; want %d", v, err, latest)
	}
	p, err := newProvider(ctx, db, SQLite)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.DownTo(ctx, 0); err != nil {
		t.Fatalf("DownTo(0): %v", err)
	}
	var n int
	var left string
	if err := db.QueryRowContext(ctx, `SELECT COUNT(*), COALESCE(group_concat(name), '') FROM sqlite_master WHERE type = 'table' AND name <> 'goose_db_version' AND name NOT LIKE 'sqlite_%'`).Scan(&n, &left); err != nil || n != 0 {
		t.Errorf("%d tables left after DownTo(0) (%s), %v", n, left, err)
	}
	if v, err := Migrate(ctx, db, SQLite); err != nil || v != latest {
		t.Fatalf("Migrate after down = %d, %v; want %d", v, err, latest)
	}
}
