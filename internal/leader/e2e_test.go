package leader

import (
	"context"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/runnel-dev/runnel/internal/metrics"
	"github.com/runnel-dev/runnel/internal/output"
	"github.com/runnel-dev/runnel/internal/rpc"
	pb "github.com/runnel-dev/runnel/internal/rpc/runnelpb"
)

// controller stands in for a runnel controller: it counts nudges.
type controller struct{ nudges atomic.Int64 }

func (c *controller) Nudge() { c.nudges.Add(1) }
func (c *controller) SubscribeOutput(context.Context, string) (output.Stream, error) {
	return nil, output.ErrUnknownJob
}
func (c *controller) JobMetrics(context.Context, string) ([]metrics.OperatorGroup, error) {
	return nil, nil
}

func serveController(t *testing.T) (*controller, *grpc.Server, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c := &controller{}
	srv := grpc.NewServer()
	pb.RegisterControllerServiceServer(srv, rpc.NewControllerServer(c))
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(srv.Stop)
	return c, srv, ln.Addr().String()
}

// An API server's client follows leadership from one controller to another
// when the first one's process dies (its server stops and its session ends).
func TestAPIFollowsLeaderAcrossFailover(t *testing.T) {
	t.Parallel()
	u, admin := testDB(t)
	key := randomKey()
	ctx := t.Context()

	ca, srvA, addrA := serveController(t)
	cb, _, addrB := serveController(t)
	cfgA := Config{URL: u, Key: key, Identity: "a", Address: addrA, RetryInterval: 50 * time.Millisecond, CheckInterval: 100 * time.Millisecond}
	cfgB := cfgA
	cfgB.Identity, cfgB.Address = "b", addrB
	mustLead(t, campaign(t, ctx, cfgA))
	bch := campaign(t, ctx, cfgB)

	pool, err := pgxpool.New(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	d := rpc.NewLeaderDialer(AddressFunc(pool), nil, grpc.WithTransportCredentials(insecure.NewCredentials()))
	defer d.Close()
	client := rpc.NewLeaderClient(d)
	if err := client.Nudge(ctx); err != nil || ca.nudges.Load() != 1 {
		t.Fatalf("Nudge = %v, leader saw %d nudges", err, ca.nudges.Load())
	}

	// kill -9 of controller a: its server goes and PostgreSQL ends its
	// session.
	var pid int
	if err := admin.QueryRowContext(ctx, `SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted
		AND classid = $1 AND objid = $2 AND objsubid = 1`, uint32(uint64(key)>>32), uint32(key)).Scan(&pid); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	srvA.Stop()
	if _, err := admin.ExecContext(ctx, "SELECT pg_terminate_backend($1)", pid); err != nil {
		t.Fatal(err)
	}
	mustLead(t, bch)
	for cb.nudges.Load() == 0 {
		if time.Since(killed) > 5*time.Second {
			t.Fatal("no nudge reached the new leader")
		}
		_ = client.Nudge(ctx) // fails until b has recorded itself
		time.Sleep(10 * time.Millisecond)
	}
	t.Logf("API reached the new leader %v after the old one died", time.Since(killed))
}

// The lock connection asks the server for keepalives, so a leader host
// that vanishes loses its session in seconds.
func TestLockConnectionKeepalives(t *testing.T) {
	t.Parallel()
	u, _ := testDB(t)
	ctx := t.Context()
	var conn *pgx.Conn
	if _, err := tryLock(ctx, &conn, Config{URL: u, Key: randomKey()}.withDefaults()); err != nil {
		t.Fatal(err)
	}
	defer closeQuietly(conn)
	var idle string
	if err := conn.QueryRow(ctx, "SHOW tcp_keepalives_idle").Scan(&idle); err != nil || idle != "5" {
		t.Fatalf("tcp_keepalives_idle = %q, %v; want 5", idle, err)
	}
}
