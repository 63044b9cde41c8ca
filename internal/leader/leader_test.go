package leader

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/binary"
	"errors"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	_ "github.com/jackc/pgx/v5/stdlib"

	"github.com/runnel-dev/runnel/internal/store/postgres"
	"github.com/runnel-dev/runnel/internal/store/postgres/pgtest"
)

// testDB returns the URL of a fresh, migrated schema (dropped when the test
// ends) and an admin connection.
func testDB(t *testing.T) (string, *sql.DB) {
	t.Helper()
	base, admin := pgtest.Server(t)
	u, _ := pgtest.NewSchema(t, base, admin)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	if _, err := postgres.Migrate(ctx, u); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	return u, admin
}

// randomKey keeps parallel tests and runs off each other's locks.
func randomKey() int64 {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return int64(binary.BigEndian.Uint64(b[:]) | 1)
}

func config(u string, key int64, id string) Config {
	return Config{URL: u, Key: key, Identity: id, Address: id + ":9190", RetryInterval: 50 * time.Millisecond, CheckInterval: 100 * time.Millisecond}
}

type result struct {
	l   *Lease
	err error
	at  time.Time
}

// campaign runs Campaign in the background; the lease it wins is released
// when the test ends.
func campaign(t *testing.T, ctx context.Context, cfg Config) <-chan result {
	t.Helper()
	ch := make(chan result, 1)
	go func() {
		l, err := Campaign(ctx, cfg)
		ch <- result{l, err, time.Now()}
	}()
	return ch
}

func mustLead(t *testing.T, ch <-chan result) result {
	t.Helper()
	select {
	case r := <-ch:
		if r.err != nil {
			t.Fatalf("Campaign: %v", r.err)
		}
		t.Cleanup(func() { _ = r.l.Release(context.Background()) })
		return r
	case <-time.After(10 * time.Second):
		t.Fatal("timed out waiting to lead")
		return result{}
	}
}

func notLeading(t *testing.T, ch <-chan result, d time.Duration) {
	t.Helper()
	select {
	case r := <-ch:
		if r.l != nil {
			_ = r.l.Release(context.Background())
		}
		t.Fatalf("standby returned from Campaign: %v", r.err)
	case <-time.After(d):
	}
}

func checkLeader(t *testing.T, u, want string) {
	t.Helper()
	got, err := Lookup(t.Context(), u)
	if err != nil {
		t.Fatalf("Lookup: %v", err)
	}
	if got.Address != want || got.Since.IsZero() || time.Since(got.Since) > time.Minute {
		t.Fatalf("current leader %+v, want address %s and a recent since", got, want)
	}
}

func TestOneLeaderAndHandoverOnRelease(t *testing.T) {
	t.Parallel()
	u, _ := testDB(t)
	key := randomKey()
	ctx := t.Context()

	if _, err := Lookup(ctx, u); !errors.Is(err, ErrNoLeader) {
		t.Fatalf("Lookup before any leader: %v, want ErrNoLeader", err)
	}
	a := mustLead(t, campaign(t, ctx, config(u, key, "a")))
	checkLeader(t, u, "a:9190")
	bch := campaign(t, ctx, config(u, key, "b"))
	notLeading(t, bch, 300*time.Millisecond)

	released := time.Now()
	if err := a.l.Release(ctx); err != nil {
		t.Fatalf("Release: %v", err)
	}
	select {
	case <-a.l.Lost():
	default:
		t.Fatal("Lost is open after Release")
	}
	if err := a.l.Release(ctx); err != nil {
		t.Fatalf("second Release: %v", err)
	}
	b := mustLead(t, bch)
	took := b.at.Sub(released)
	t.Logf("handover after Release took %v", took)
	if took > time.Second {
		t.Errorf("handover took %v, want about RetryInterval", took)
	}
	checkLeader(t, u, "b:9190")
}

// Terminating the leader's backend is what PostgreSQL does when the
// leader's process dies: the lease reports the loss and the standby leads.
func TestFailoverWhenLeaderSessionEnds(t *testing.T) {
	t.Parallel()
	u, admin := testDB(t)
	key := randomKey()
	ctx := t.Context()

	a := mustLead(t, campaign(t, ctx, config(u, key, "a")))
	bch := campaign(t, ctx, config(u, key, "b"))
	notLeading(t, bch, 200*time.Millisecond)

	// A bigint advisory key shows in pg_locks as classid (high half) and
	// objid (low half) with objsubid 1.
	var pid int
	err := admin.QueryRowContext(ctx, `SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted
		AND classid = $1 AND objid = $2 AND objsubid = 1`, uint32(uint64(key)>>32), uint32(key)).Scan(&pid)
	if err != nil {
		t.Fatalf("finding the leader's backend: %v", err)
	}
	killed := time.Now()
	if _, err := admin.ExecContext(ctx, "SELECT pg_terminate_backend($1)", pid); err != nil {
		t.Fatal(err)
	}
	b := mustLead(t, bch)
	select {
	case <-a.l.Lost():
	case <-time.After(5 * time.Second):
		t.Fatal("old lease never reported the loss")
	}
	lostAfter := time.Since(killed)
	t.Logf("failover: standby led %v after the leader's session ended; old leader noticed within %v",
		b.at.Sub(killed), lostAfter)
	if took := b.at.Sub(killed); took > time.Second {
		t.Errorf("failover took %v", took)
	}
	checkLeader(t, u, "b:9190")
	if err := a.l.Release(ctx); err != nil {
		t.Errorf("Release after loss: %v", err)
	}
}

// With production defaults: a leader whose process is gone (its backend
// terminated) is replaced within about a second, and it stops acting within
// CheckInterval.
func TestFailoverWithDefaults(t *testing.T) {
	t.Parallel()
	u, admin := testDB(t)
	key := randomKey()
	ctx := t.Context()

	cfgA := Config{URL: u, Key: key, Identity: "a", Address: "a:9190"}
	cfgB := Config{URL: u, Key: key, Identity: "b", Address: "b:9190"}
	a := mustLead(t, campaign(t, ctx, cfgA))
	bch := campaign(t, ctx, cfgB)
	notLeading(t, bch, 300*time.Millisecond)

	var pid int
	if err := admin.QueryRowContext(ctx, `SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted
		AND classid = $1 AND objid = $2 AND objsubid = 1`, uint32(uint64(key)>>32), uint32(key)).Scan(&pid); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	if _, err := admin.ExecContext(ctx, "SELECT pg_terminate_backend($1)", pid); err != nil {
		t.Fatal(err)
	}
	b := mustLead(t, bch)
	<-a.l.Lost()
	t.Logf("failover with defaults: standby led after %v; old leader lost after %v", b.at.Sub(killed), time.Since(killed))
	if took := b.at.Sub(killed); took > time.Second {
		t.Errorf("failover took %v, want under a second", took)
	}
}

func TestCampaignEndsWithContext(t *testing.T) {
	t.Parallel()
	u, _ := testDB(t)
	key := randomKey()

	a := mustLead(t, campaign(t, t.Context(), config(u, key, "a")))
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	if l, err := Campaign(ctx, config(u, key, "b")); !errors.Is(err, context.DeadlineExceeded) {
		if l != nil {
			_ = l.Release(context.Background())
		}
		t.Fatalf("Campaign against a held lock: %v, want DeadlineExceeded", err)
	}
	// The standby's connection is gone, so after the release a third
	// controller takes the lock at its first try.
	if err := a.l.Release(t.Context()); err != nil {
		t.Fatal(err)
	}
	mustLead(t, campaign(t, t.Context(), config(u, key, "c")))
	checkLeader(t, u, "c:9190")

	// An unreachable server is retried until the context ends.
	ctx, cancel = context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	if _, err := Campaign(ctx, Config{URL: "postgres://postgres@127.0.0.1:1/test?sslmode=disable", Key: key}); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Campaign against no server: %v", err)
	}
	if _, err := Campaign(t.Context(), Config{}); err == nil {
		t.Fatal("Campaign without a URL succeeded")
	}
}

func TestCurrentLeaderOnConn(t *testing.T) {
	t.Parallel()
	u, _ := testDB(t)
	ctx := t.Context()
	conn, err := pgx.Connect(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	if _, err := CurrentLeader(ctx, conn); !errors.Is(err, ErrNoLeader) {
		t.Fatalf("CurrentLeader on an empty table: %v", err)
	}
	mustLead(t, campaign(t, ctx, config(u, randomKey(), "a")))
	l, err := CurrentLeader(ctx, conn)
	if err != nil || l.Identity != "a" || l.Address != "a:9190" {
		t.Fatalf("CurrentLeader = %+v, %v", l, err)
	}
}

// One store, one key, however its URL is spelled; another schema or
// database, another key.
func TestKeyFor(t *testing.T) {
	base := KeyFor("postgres://a@h1:5432/runnel?search_path=s1")
	for _, same := range []string{
		"postgres://b@h2:6543/runnel?search_path=s1&sslmode=disable",
		"postgresql://h3/runnel?sslmode=require&search_path=s1",
	} {
		if KeyFor(same) != base {
			t.Errorf("%s: another key than the same store's", same)
		}
	}
	for _, other := range []string{
		"postgres://a@h1:5432/runnel?search_path=s2",
		"postgres://a@h1:5432/runnel",
		"postgres://a@h1:5432/other?search_path=s1",
	} {
		if KeyFor(other) == base {
			t.Errorf("%s: the same key as another store", other)
		}
	}
}
