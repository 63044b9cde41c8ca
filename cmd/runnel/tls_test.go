package main

import (
	"context"
	"crypto/x509"
	"slices"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/runnel-dev/runnel/internal/engine"
	"github.com/runnel-dev/runnel/internal/rpc/rpctest"
	pb "github.com/runnel-dev/runnel/internal/rpc/runnelpb"
	"github.com/runnel-dev/runnel/internal/sql"
	"github.com/runnel-dev/runnel/pkg/client"
)

// testCerts writes a CA and one certificate signed by it, for 127.0.0.1
// and localhost and good for both server and client authentication, so
// that every component can use the same files. It returns their paths.
func testCerts(t *testing.T) (caFile, certFile, keyFile string) {
	t.Helper()
	dir := t.TempDir()
	ca := rpctest.NewCA(t, dir, "ca")
	certFile, keyFile = ca.Issue(t, dir, "runnel", x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth)
	return ca.File, certFile, keyFile
}

// runEmbedded runs a query to its end in this process, for output to
// compare a distributed run with.
func runEmbedded(t *testing.T, q string, par int) {
	t.Helper()
	p, err := sql.Plan(q, sql.Options{Parallelism: par})
	if err != nil {
		t.Fatal(err)
	}
	x, err := engine.NewRunner().Start(t.Context(), p, engine.RunOptions{JobID: "embedded", RunID: 1})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-x.Done():
	case <-time.After(time.Minute):
		x.Stop(engine.StopImmediate)
		<-x.Done()
		t.Fatal("the embedded run did not finish")
	}
	if err := x.Err(); err != nil || !x.Finished() {
		t.Fatalf("embedded run: Err = %v, Finished = %v", err, x.Finished())
	}
}

// TestTLSProcessScheduler runs the API, a controller and its worker
// processes with mutual TLS on every gRPC link (API to controller, worker
// to controller, controller to worker, worker to worker), and checks that
// q5 gives the embedded run's output and that a plaintext client is
// refused.
func TestTLSProcessScheduler(t *testing.T) {
	caFile, certFile, keyFile := testCerts(t)
	// One slot per worker puts the two subtasks on two workers, so that
	// their exchange crosses a TLS link too.
	d := newDistributed(t, "RUNNEL_TLS__CERT_FILE="+certFile, "RUNNEL_TLS__KEY_FILE="+keyFile, "RUNNEL_TLS__CA_FILE="+caFile,
		"RUNNEL_CONTROLLER__SLOTS_PER_WORKER=1")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	ctrl, grpcAddr := d.controller(true)
	c := d.api("--controller-addr", grpcAddr)

	wantDir, gotDir := t.TempDir(), t.TempDir()
	runEmbedded(t, q5(t, wantDir, 60000, 0), 2)
	p := createPipeline(ctx, t, c, "tls", q5(t, gotDir, 60000, 30000), 2)
	if _, err := c.WaitForState(ctx, p.ID, client.StateRunning); err != nil {
		t.Fatal(err)
	}
	if n := len(workerPIDs(t, ctrl.cmd.Process.Pid)); n != 2 {
		t.Errorf("%d worker processes for parallelism 2 with 1 slot each, want 2", n)
	}
	j, err := c.WaitForState(ctx, p.ID, client.StateFinished, client.StateFailed)
	if err != nil {
		t.Fatal(err)
	}
	if j.State != client.StateFinished {
		t.Fatalf("job ended %s: %+v", j.State, j)
	}
	want, got := publishedRows(t, wantDir), publishedRows(t, gotDir)
	if len(want) == 0 || !slices.Equal(got, want) {
		t.Fatalf("over TLS: %d rows, want the %d of the embedded run", len(got), len(want))
	}
	t.Logf("%d rows over TLS, identical to the embedded run", len(got))

	conn, err := grpc.NewClient(grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	cctx, ccancel := context.WithTimeout(ctx, 5*time.Second)
	defer ccancel()
	if _, err := pb.NewControllerServiceClient(conn).JobMetrics(cctx, &pb.JobMetricsRequest{JobId: j.ID}); err == nil {
		t.Fatal("a plaintext client called the controller")
	} else {
		t.Logf("plaintext client refused: %v", err)
	}
}
