// Package leader elects one controller among several that share a
// PostgreSQL metadata store.
//
// The leader holds a session-level advisory lock on one dedicated
// connection. When the leader's process dies, PostgreSQL ends its session
// and frees the lock at once, so a standby (which retries every
// RetryInterval) takes over without waiting for a lease to expire. The
// leader records its identity and address in controller_leader so that API
// servers can find it.
//
// The leader checks its connection every CheckInterval. PostgreSQL may end
// the session (and a standby may take the lock) before that check notices,
// so for up to about CheckInterval two controllers can both believe they
// lead; what the controller does must tolerate that overlap.
package leader

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	neturl "net/url"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
)

// fallbackKey is the lock key of a URL KeyFor cannot parse.
const fallbackKey int64 = 0x72756e6e656c4c44 // "runnelLD"

// KeyFor is the advisory lock key of the store at url: one per database
// and schema (search_path), so that controllers of separate Runnel
// installations on one PostgreSQL server never compete, while every URL
// spelling of one store (other hosts, options) agrees.
func KeyFor(url string) int64 {
	u, err := neturl.Parse(url)
	if err != nil {
		return fallbackKey
	}
	h := fnv.New64a()
	_, _ = h.Write([]byte(strings.TrimPrefix(u.Path, "/") + "\x00" + u.Query().Get("search_path")))
	return int64(h.Sum64() >> 1)
}

// Defaults for the zero values of Config.
const (
	DefaultRetryInterval = 250 * time.Millisecond
	DefaultCheckInterval = time.Second
)

// ErrNoLeader is returned by CurrentLeader when no controller has led yet.
var ErrNoLeader = errors.New("leader: no controller has been elected")

// Config describes a campaign.
type Config struct {
	// URL is the PostgreSQL connection string. Its search_path (if any)
	// decides which schema's controller_leader table is written.
	URL string
	// Key is the advisory lock key; zero means KeyFor(URL). Controllers
	// that compete must use the same key.
	Key int64
	// Identity names this controller (host, pod) in controller_leader.
	Identity string
	// Address is where this controller serves gRPC once it leads.
	Address string
	// RetryInterval is how often a standby tries to take the lock.
	RetryInterval time.Duration
	// CheckInterval is how often the leader checks its connection; a check
	// also fails when it takes longer than this.
	CheckInterval time.Duration
	Logger        *slog.Logger
}

func (c Config) withDefaults() Config {
	if c.Key == 0 {
		c.Key = KeyFor(c.URL)
	}
	if c.RetryInterval <= 0 {
		c.RetryInterval = DefaultRetryInterval
	}
	if c.CheckInterval <= 0 {
		c.CheckInterval = DefaultCheckInterval
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// Lease is held leadership. It lasts until Release or until the lock's
// connection fails, whichever comes first; Lost tells which.
type Lease struct {
	cfg  Config
	conn *pgx.Conn // used only by watch until it returns, then by Release

	lost    chan struct{} // closed when leadership is lost or released
	stop    chan struct{} // closed by Release to end watch
	done    chan struct{} // closed when watch returns
	once    sync.Once
	dropped bool // set by watch before done: the connection has failed

	release    sync.Once
	releaseErr error
}

// Campaign blocks until this controller leads or ctx ends. A standby keeps
// one connection open and tries the lock every RetryInterval; connection
// errors are logged and retried, so Campaign outlives a PostgreSQL restart.
// The returned Lease does not depend on ctx.
func Campaign(ctx context.Context, cfg Config) (*Lease, error) {
	cfg = cfg.withDefaults()
	if cfg.URL == "" {
		return nil, errors.New("leader: no PostgreSQL URL")
	}
	var conn *pgx.Conn
	closeConn := func() {
		if conn != nil {
			closeQuietly(conn)
			conn = nil
		}
	}
	for {
		leading, err := tryLock(ctx, &conn, cfg)
		if leading {
			l := &Lease{cfg: cfg, conn: conn, lost: make(chan struct{}), stop: make(chan struct{}), done: make(chan struct{})}
			go l.watch()
			return l, nil
		}
		if err != nil {
			if ctx.Err() != nil {
				closeConn()
				return nil, fmt.Errorf("leader: campaign: %w", ctx.Err())
			}
			cfg.Logger.Warn("campaign attempt failed; retrying", "err", err)
			closeConn() // start over on a fresh connection
		}
		select {
		case <-ctx.Done():
			closeConn()
			return nil, fmt.Errorf("leader: campaign: %w", ctx.Err())
		case <-time.After(cfg.RetryInterval):
		}
	}
}

// tryLock connects if *conn is nil, tries the lock and, when it gets it,
// records this controller as the leader. On an error after connecting, the
// caller closes the connection, which also frees a lock taken.
func tryLock(ctx context.Context, conn **pgx.Conn, cfg Config) (bool, error) {
	if *conn == nil {
		pc, err := pgx.ParseConfig(cfg.URL)
		if err != nil {
			return false, fmt.Errorf("parsing the URL: %w", err)
		}
		// A process that dies leaves its kernel to close the socket, and
		// PostgreSQL frees the lock at once. A host that vanishes closes
		// nothing; server-side keepalives end its session in about 8s
		// instead of the system default of hours. Settings in the URL win.
		for k, v := range map[string]string{"tcp_keepalives_idle": "5", "tcp_keepalives_interval": "1", "tcp_keepalives_count": "3"} {
			if _, ok := pc.RuntimeParams[k]; !ok {
				pc.RuntimeParams[k] = v
			}
		}
		c, err := pgx.ConnectConfig(ctx, pc)
		if err != nil {
			return false, fmt.Errorf("connecting: %w", err)
		}
		*conn = c
	}
	var got bool
	if err := (*conn).QueryRow(ctx, "SELECT pg_try_advisory_lock($1)", cfg.Key).Scan(&got); err != nil {
		return false, fmt.Errorf("trying the lock: %w", err)
	}
	if !got {
		return false, nil
	}
	_, err := (*conn).Exec(ctx, `
INSERT INTO controller_leader (id, holder, address, since) VALUES (1, $1, $2, $3)
ON CONFLICT (id) DO UPDATE SET holder = EXCLUDED.holder, address = EXCLUDED.address, since = EXCLUDED.since`,
		cfg.Identity, cfg.Address, time.Now().UnixMicro())
	if err != nil {
		return false, fmt.Errorf("recording the leader: %w", err)
	}
	return true, nil
}

// watch checks the connection every CheckInterval until Release; the first
// failed check ends leadership.
func (l *Lease) watch() {
	defer close(l.done)
	t := time.NewTicker(l.cfg.CheckInterval)
	defer t.Stop()
	for {
		select {
		case <-l.stop:
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), l.cfg.CheckInterval)
		err := l.conn.Ping(ctx)
		cancel()
		if err != nil {
			l.cfg.Logger.Error("lost leadership: lock connection failed", "err", err)
			l.dropped = true
			// Closing ends the session if the server still has it, so a
			// standby need not wait for it to notice.
			closeQuietly(l.conn)
			l.closeLost()
			return
		}
	}
}

func (l *Lease) closeLost() { l.once.Do(func() { close(l.lost) }) }

// Lost is closed when leadership ends: at once when the lock's connection
// fails its check, or on Release. A controller must stop acting as leader
// when it closes.
func (l *Lease) Lost() <-chan struct{} { return l.lost }

// Release gives up leadership: it unlocks and closes the connection. It
// is safe to call more than once and after leadership was lost.
func (l *Lease) Release(ctx context.Context) error {
	l.release.Do(func() { l.releaseErr = l.doRelease(ctx) })
	return l.releaseErr
}

func (l *Lease) doRelease(ctx context.Context) error {
	close(l.stop)
	<-l.done
	l.closeLost()
	if l.dropped {
		return nil
	}
	// Closing alone would free the lock too; unlocking first makes the
	// handover immediate even if closing is slow.
	_, err := l.conn.Exec(ctx, "SELECT pg_advisory_unlock($1)", l.cfg.Key)
	if cerr := l.conn.Close(ctx); err == nil && cerr != nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("leader: release: %w", err)
	}
	l.cfg.Logger.Info("released leadership", "identity", l.cfg.Identity)
	return nil
}

func closeQuietly(c *pgx.Conn) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_ = c.Close(ctx)
}

// Leader is the controller recorded as leading.
type Leader struct {
	Identity string
	Address  string
	Since    time.Time
}

// QueryRower runs a query returning at most one row; *pgx.Conn,
// *pgxpool.Pool and pgx.Tx all are one.
type QueryRower interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// CurrentLeader reads the recorded leader, or ErrNoLeader. Right after a
// leader dies the record still names it until a standby takes over; callers
// retry on failure rather than trust it for long.
func CurrentLeader(ctx context.Context, db QueryRower) (Leader, error) {
	var l Leader
	var since int64
	err := db.QueryRow(ctx, "SELECT holder, address, since FROM controller_leader WHERE id = 1").Scan(&l.Identity, &l.Address, &since)
	if errors.Is(err, pgx.ErrNoRows) {
		return Leader{}, ErrNoLeader
	}
	if err != nil {
		return Leader{}, fmt.Errorf("leader: reading the current leader: %w", err)
	}
	l.Since = time.UnixMicro(since)
	return l, nil
}

// AddressFunc returns a func that reads the current leader's address from
// db, as rpc.NewLeaderDialer wants it.
func AddressFunc(db QueryRower) func(ctx context.Context) (string, error) {
	return func(ctx context.Context) (string, error) {
		l, err := CurrentLeader(ctx, db)
		return l.Address, err
	}
}

// Lookup is CurrentLeader on a connection of its own, for callers that
// have only a URL. Frequent callers should keep a pool and use
// CurrentLeader.
func Lookup(ctx context.Context, url string) (Leader, error) {
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return Leader{}, fmt.Errorf("leader: connecting: %w", err)
	}
	defer closeQuietly(conn)
	return CurrentLeader(ctx, conn)
}
