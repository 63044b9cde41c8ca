package worker

import (
	"context"
	"io"
	"log/slog"
	"net"
	"runtime/pprof"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	pb "github.com/runnel-dev/runnel/internal/rpc/runnelpb"
	"github.com/runnel-dev/runnel/internal/sql"
)

// unreachableEnd is a controller that takes registrations and heartbeats
// but never accepts the report of an execution's end.
type unreachableEnd struct {
	pb.UnimplementedWorkerControlServiceServer
	addr  chan string
	ended atomic.Int32
}

func (c *unreachableEnd) RegisterWorker(_ context.Context, req *pb.RegisterWorkerRequest) (*pb.RegisterWorkerResponse, error) {
	c.addr <- req.GetAddress()
	return &pb.RegisterWorkerResponse{HeartbeatIntervalMs: 20}, nil
}

func (c *unreachableEnd) Heartbeat(context.Context, *pb.HeartbeatRequest) (*pb.HeartbeatResponse, error) {
	return &pb.HeartbeatResponse{}, nil
}

func (c *unreachableEnd) ExecutionEnded(context.Context, *pb.ExecutionEndedRequest) (*pb.ExecutionEndedResponse, error) {
	c.ended.Add(1)
	return nil, status.Error(codes.Unavailable, "not now")
}

// TestRunWaitsForTheEndReport: the goroutine that reports the end of the
// execution, retrying, must be gone when Run returns, since Run closes the
// connection it reports over.
func TestRunWaitsForTheEndReport(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctl := &unreachableEnd{addr: make(chan string, 1)}
	srv := grpc.NewServer()
	pb.RegisterWorkerControlServiceServer(srv, ctl)
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(srv.Stop)

	dial := grpc.WithTransportCredentials(insecure.NewCredentials())
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ran := make(chan error, 1)
	go func() {
		ran <- Run(ctx, Config{
			ControllerAddr: ln.Addr().String(), JobID: "j", RunID: 1, WorkerID: "j-1-0", Slots: 1,
			DialOptions: []grpc.DialOption{dial}, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		})
	}()
	var addr string
	select {
	case addr = <-ctl.addr:
	case <-time.After(10 * time.Second):
		t.Fatal("the worker did not register")
	}

	// A bounded query, so that the execution ends and is reported.
	query := `CREATE TABLE impulse WITH (connector = 'impulse', event_rate = '0', message_count = '10');
CREATE TABLE sink WITH (connector = 'blackhole');
INSERT INTO sink SELECT counter FROM impulse;`
	prog, err := sql.Plan(query, sql.Options{Parallelism: 1})
	if err != nil {
		t.Fatal(err)
	}
	ref := &pb.WorkerRef{WorkerId: "j-1-0", JobId: "j", RunId: 1}
	req := &pb.StartExecutionRequest{Worker: ref, Plan: &pb.PlanSpec{Query: query, Parallelism: 1}, Fingerprint: prog.Fingerprint()}
	for _, n := range prog.Nodes {
		req.Placements = append(req.Placements, &pb.TaskPlacement{NodeId: int64(n.ID), WorkerId: ref.WorkerId})
	}
	conn, err := grpc.NewClient(addr, dial)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := pb.NewWorkerServiceClient(conn).StartExecution(ctx, req); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for ctl.ended.Load() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the end of the execution was not reported")
		}
		time.Sleep(5 * time.Millisecond)
	}

	cancel()
	select {
	case <-ran:
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return")
	}
	var stacks strings.Builder
	if err := pprof.Lookup("goroutine").WriteTo(&stacks, 1); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(stacks.String(), "worker.(*worker).await") {
		t.Errorf("the end report still runs after Run returned:\n%s", stacks.String())
	}
}
