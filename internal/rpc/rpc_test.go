package rpc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/runnel-dev/runnel/internal/api"
	"github.com/runnel-dev/runnel/internal/metrics"
	"github.com/runnel-dev/runnel/internal/output"
	pb "github.com/runnel-dev/runnel/internal/rpc/runnelpb"
)

var _ api.Controller = (*ControllerClient)(nil)

// fakeController serves one running job's output from a real hub; a job
// named "stopped" exists but is not running.
type fakeController struct {
	hub    *output.Hub
	groups []metrics.OperatorGroup
}

func (f *fakeController) SubscribeOutput(_ context.Context, jobID string) (output.Stream, error) {
	if jobID == "stopped" {
		return nil, output.ErrNotRunning
	}
	s, err := f.hub.Subscribe(jobID)
	if err != nil {
		return nil, fmt.Errorf("job %s: %w", jobID, err)
	}
	return s, nil
}

func (f *fakeController) JobMetrics(_ context.Context, jobID string) ([]metrics.OperatorGroup, error) {
	if jobID == "broken" {
		return nil, errors.New("metrics store unavailable")
	}
	if jobID != "job_1" {
		return []metrics.OperatorGroup{}, nil
	}
	return f.groups, nil
}

// serve starts a gRPC server for c on a loopback port and returns a
// connection to it; both end with the test.
func serve(t *testing.T, c Controller, opts ...grpc.DialOption) *grpc.ClientConn {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	pb.RegisterControllerServiceServer(srv, NewControllerServer(c))
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(srv.Stop)
	conn, err := grpc.NewClient(ln.Addr().String(), append([]grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return conn
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestOutputInOrderThenEnd(t *testing.T) {
	ctx := context.Background()
	hub := output.NewHub(1000)
	sink := hub.Open("job_1")
	client := NewControllerClient(serve(t, &fakeController{hub: hub}))

	stream, err := client.SubscribeOutput(ctx, "job_1")
	if err != nil {
		t.Fatal(err)
	}
	defer stream.Close()
	const n = 200
	for i := range n {
		d := output.Data{OperatorID: "preview_3", SubtaskIdx: i % 2, Timestamps: []int64{int64(i), int64(i) + 1}, StartID: int64(i), Batch: `[{"n":` + strconv.Itoa(i) + `}]`}
		if err := sink.Send(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
	hub.Close("job_1")
	for i := range n {
		d, err := stream.Recv(ctx)
		if err != nil {
			t.Fatalf("batch %d: %v", i, err)
		}
		want := output.Data{OperatorID: "preview_3", SubtaskIdx: i % 2, Timestamps: []int64{int64(i), int64(i) + 1}, StartID: int64(i), Batch: `[{"n":` + strconv.Itoa(i) + `}]`}
		if !reflect.DeepEqual(d, want) {
			t.Fatalf("batch %d = %+v, want %+v", i, d, want)
		}
	}
	if _, err := stream.Recv(ctx); !errors.Is(err, io.EOF) {
		t.Fatalf("after the last batch: %v, want io.EOF", err)
	}
	if _, err := stream.Recv(ctx); !errors.Is(err, io.EOF) {
		t.Fatalf("Recv after the end: %v, want io.EOF again", err)
	}
	if d := stream.Dropped(); d != 0 {
		t.Fatalf("dropped %d", d)
	}
	waitFor(t, "the server to release its subscription", func() bool { return hub.Subscribers("job_1") == 0 })
}

// A reader that does not keep up loses batches on the controller side; the
// end event carries how many, and nothing else goes missing.
func TestOutputEndCarriesDropped(t *testing.T) {
	ctx := context.Background()
	hub := output.NewHub(2)
	sink := hub.Open("job_1")
	// Small fixed windows (no BDP growth), so the relay backs up quickly.
	conn := serve(t, &fakeController{hub: hub},
		grpc.WithInitialWindowSize(64<<10), grpc.WithInitialConnWindowSize(64<<10))
	client := NewControllerClient(conn)

	stream, err := client.SubscribeOutput(ctx, "job_1")
	if err != nil {
		t.Fatal(err)
	}
	defer stream.Close()
	const n = 50
	big := strings.Repeat("x", 64<<10)
	for i := range n {
		if err := sink.Send(ctx, output.Data{StartID: int64(i), Batch: big}); err != nil {
			t.Fatal(err)
		}
	}
	hub.Close("job_1")
	got, last := 0, int64(-1)
	for {
		d, err := stream.Recv(ctx)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if d.StartID <= last {
			t.Fatalf("batch %d after %d", d.StartID, last)
		}
		last = d.StartID
		got++
	}
	dropped := stream.Dropped()
	if dropped == 0 {
		t.Fatalf("nothing dropped; got %d batches", got)
	}
	if int64(got)+dropped != n {
		t.Fatalf("got %d + dropped %d, want %d in all", got, dropped, n)
	}
}

func TestSubscribeErrorsRoundTrip(t *testing.T) {
	ctx := context.Background()
	hub := output.NewHub(4)
	conn := serve(t, &fakeController{hub: hub})
	client := NewControllerClient(conn)
	raw := pb.NewControllerServiceClient(conn)

	for _, tc := range []struct {
		job  string
		code codes.Code
		want error
	}{
		{"nope", codes.NotFound, output.ErrUnknownJob},
		{"stopped", codes.FailedPrecondition, output.ErrNotRunning},
	} {
		_, err := client.SubscribeOutput(ctx, tc.job)
		if !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.job, err, tc.want)
		}
		// The API shows the message to users: it must read as in process.
		if _, inProcess := (&fakeController{hub: hub}).SubscribeOutput(ctx, tc.job); err == nil || err.Error() != inProcess.Error() {
			t.Errorf("%s: %v, want the in-process message %q", tc.job, err, inProcess)
		}
		st, err := raw.SubscribeOutput(ctx, &pb.SubscribeOutputRequest{JobId: tc.job})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := st.Recv(); status.Code(err) != tc.code {
			t.Errorf("%s: status %v, want %v", tc.job, err, tc.code)
		}
	}
}

func TestCloseAndCancelReleaseSubscription(t *testing.T) {
	hub := output.NewHub(4)
	sink := hub.Open("job_1")
	client := NewControllerClient(serve(t, &fakeController{hub: hub}))

	// Close ends the RPC.
	stream, err := client.SubscribeOutput(context.Background(), "job_1")
	if err != nil {
		t.Fatal(err)
	}
	if got := hub.Subscribers("job_1"); got != 1 {
		t.Fatalf("%d subscribers after subscribing", got)
	}
	stream.Close()
	waitFor(t, "Close to release the subscription", func() bool { return hub.Subscribers("job_1") == 0 })
	if _, err := stream.Recv(context.Background()); err == nil {
		t.Fatal("Recv after Close succeeded")
	}

	// So does cancelling the context the stream was opened with, even
	// while a Recv is waiting.
	ctx, cancel := context.WithCancel(context.Background())
	stream, err = client.SubscribeOutput(ctx, "job_1")
	if err != nil {
		t.Fatal(err)
	}
	defer stream.Close()
	if err := sink.Send(ctx, output.Data{Batch: "[]"}); err != nil {
		t.Fatal(err)
	}
	if _, err := stream.Recv(ctx); err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() {
		_, err := stream.Recv(context.Background())
		errc <- err
	}()
	cancel()
	select {
	case err := <-errc:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Recv after cancel: %v, want context.Canceled", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Recv still blocked after cancel")
	}
	waitFor(t, "cancel to release the subscription", func() bool { return hub.Subscribers("job_1") == 0 })

	// A Recv whose own context ends gives up without ending the stream.
	stream, err = client.SubscribeOutput(context.Background(), "job_1")
	if err != nil {
		t.Fatal(err)
	}
	defer stream.Close()
	short, stop := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer stop()
	if _, err := stream.Recv(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Recv with a short deadline: %v", err)
	}
	if err := sink.Send(context.Background(), output.Data{Batch: "[1]"}); err != nil {
		t.Fatal(err)
	}
	if d, err := stream.Recv(context.Background()); err != nil || d.Batch != "[1]" {
		t.Fatalf("Recv after a timed-out Recv: %+v, %v", d, err)
	}
}

func TestJobMetricsRoundTrip(t *testing.T) {
	ctx := context.Background()
	groups := []metrics.OperatorGroup{
		{NodeID: 1, MetricGroups: []metrics.Group{
			{Name: metrics.MessagesRecv, Subtasks: []metrics.SubtaskMetrics{
				{Index: 0, Metrics: []metrics.Point{{Time: 1_700_000_000_000_000, Value: 12.5}, {Time: 1_700_000_001_000_000, Value: 13}}},
				{Index: 1, Metrics: []metrics.Point{}},
			}},
			{Name: metrics.Backpressure, Subtasks: []metrics.SubtaskMetrics{}},
		}},
		{NodeID: 7, MetricGroups: []metrics.Group{}},
	}
	client := NewControllerClient(serve(t, &fakeController{hub: output.NewHub(1), groups: groups}))

	got, err := client.JobMetrics(ctx, "job_1")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, groups) {
		t.Fatalf("got %+v\nwant %+v", got, groups)
	}
	got, err = client.JobMetrics(ctx, "other")
	if err != nil || got == nil || len(got) != 0 {
		t.Fatalf("unknown job: %#v, %v; want an empty, non-nil list", got, err)
	}
	if _, err := client.JobMetrics(ctx, "broken"); err == nil || !strings.Contains(err.Error(), "metrics store unavailable") {
		t.Fatalf("failing controller: %v", err)
	}
}
