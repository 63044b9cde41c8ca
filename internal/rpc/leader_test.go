package rpc

import (
	"context"
	"errors"
	"net"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/runnel-dev/runnel/internal/api"
	"github.com/runnel-dev/runnel/internal/output"
	pb "github.com/runnel-dev/runnel/internal/rpc/runnelpb"
)

var (
	_ api.Controller = (*LeaderClient)(nil)
	_ RemoteNudger   = (*LeaderClient)(nil)
)

// controllerAt is a controller served on a loopback port.
type controllerAt struct {
	addr string
	c    *nudgedController
	srv  *grpc.Server
}

func serveAt(t *testing.T) *controllerAt {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c := &nudgedController{fakeController: fakeController{hub: output.NewHub(10)}}
	srv := grpc.NewServer()
	pb.RegisterControllerServiceServer(srv, NewControllerServer(c))
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(srv.Stop)
	return &controllerAt{addr: ln.Addr().String(), c: c, srv: srv}
}

// switchable resolves to whatever address was set last, and counts lookups.
type switchable struct {
	mu      sync.Mutex
	addr    string
	err     error
	lookups int
}

func (s *switchable) set(addr string, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.addr, s.err = addr, err
}

func (s *switchable) resolve(context.Context) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lookups++
	return s.addr, s.err
}

func (s *switchable) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lookups
}

func newLeaderClient(t *testing.T, s *switchable, recheck time.Duration) *LeaderClient {
	t.Helper()
	d := NewLeaderDialer(s.resolve, nil, grpc.WithTransportCredentials(insecure.NewCredentials()))
	d.recheck = recheck
	t.Cleanup(func() { _ = d.Close() })
	return NewLeaderClient(d)
}

// The old leader dies and the record moves to the new one: the first call
// after that finds the old one Unavailable and lands on the new one,
// without waiting for the recheck.
func TestLeaderClientFollowsFailover(t *testing.T) {
	ctx := t.Context()
	a, b := serveAt(t), serveAt(t)
	s := &switchable{addr: a.addr}
	client := newLeaderClient(t, s, time.Hour)

	if err := client.Nudge(ctx); err != nil {
		t.Fatalf("Nudge: %v", err)
	}
	if _, err := client.JobMetrics(ctx, "job_1"); err != nil {
		t.Fatalf("JobMetrics: %v", err)
	}
	if a.c.nudges.Load() != 1 || b.c.nudges.Load() != 0 {
		t.Fatalf("nudges a=%d b=%d, want 1 and 0", a.c.nudges.Load(), b.c.nudges.Load())
	}
	if n := s.count(); n != 1 {
		t.Fatalf("%d lookups, want 1 (the connection is reused)", n)
	}

	s.set(b.addr, nil)
	a.srv.Stop()
	if err := client.Nudge(ctx); err != nil {
		t.Fatalf("Nudge after failover: %v", err)
	}
	if b.c.nudges.Load() != 1 {
		t.Fatalf("new leader saw %d nudges, want 1", b.c.nudges.Load())
	}
	if _, err := client.JobMetrics(ctx, "job_1"); err != nil {
		t.Fatalf("JobMetrics after failover: %v", err)
	}

	// Output streams from the new leader too.
	sink := b.c.hub.Open("job_1")
	stream, err := client.SubscribeOutput(ctx, "job_1")
	if err != nil {
		t.Fatalf("SubscribeOutput: %v", err)
	}
	defer stream.Close()
	if err := sink.Send(ctx, output.Data{Batch: "[]"}); err != nil {
		t.Fatal(err)
	}
	if d, err := stream.Recv(ctx); err != nil || d.Batch != "[]" {
		t.Fatalf("Recv = %+v, %v", d, err)
	}
	// Errors other than Unavailable come back as they are.
	if _, err := client.SubscribeOutput(ctx, "stopped"); !errors.Is(err, output.ErrNotRunning) {
		t.Fatalf("SubscribeOutput(stopped): %v", err)
	}
}

// A leader that moves while the old one still answers is found at the
// next recheck.
func TestLeaderClientRechecks(t *testing.T) {
	ctx := t.Context()
	a, b := serveAt(t), serveAt(t)
	s := &switchable{addr: a.addr}
	client := newLeaderClient(t, s, 50*time.Millisecond)

	if err := client.Nudge(ctx); err != nil {
		t.Fatal(err)
	}
	s.set(b.addr, nil)
	waitFor(t, "a nudge to reach the new leader", func() bool {
		if err := client.Nudge(ctx); err != nil {
			t.Fatal(err)
		}
		return b.c.nudges.Load() > 0
	})

	// A failed lookup keeps the last leader.
	s.set("", errors.New("store down"))
	time.Sleep(60 * time.Millisecond)
	before := b.c.nudges.Load()
	if err := client.Nudge(ctx); err != nil || b.c.nudges.Load() != before+1 {
		t.Fatalf("Nudge while lookups fail: %v", err)
	}
}

func TestLeaderClientErrors(t *testing.T) {
	ctx := t.Context()
	s := &switchable{err: errors.New("no leader yet")}
	client := newLeaderClient(t, s, time.Hour)
	if err := client.Nudge(ctx); err == nil {
		t.Fatal("Nudge without a leader succeeded")
	}

	// A leader that is down stays an error after the one retry.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := ln.Addr().String()
	ln.Close()
	s.set(dead, nil)
	before := s.count()
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if _, err := client.JobMetrics(cctx, "job_1"); err == nil {
		t.Fatal("JobMetrics on a dead leader succeeded")
	}
	if n := s.count() - before; n != 2 {
		t.Fatalf("%d lookups for a call to a dead leader, want 2 (one retry)", n)
	}

	d := NewLeaderDialer(s.resolve, nil, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Conn(ctx); err == nil {
		t.Fatal("Conn after Close succeeded")
	}
}
