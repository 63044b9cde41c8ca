package cluster

import (
	"errors"
	"fmt"
	"net"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/runnel-dev/runnel/internal/rpc"
	"github.com/runnel-dev/runnel/internal/rpc/runnelpb"
)

// loopback serves the controller's API-facing RPCs on a loopback port and
// holds the client the embedded API uses to reach them (api.controller_grpc).
type loopback struct {
	srv    *grpc.Server
	conn   *grpc.ClientConn
	client *rpc.ControllerClient
	served chan error
}

func startLoopback(ctrl rpc.Controller) (*loopback, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("listening for controller gRPC: %w", err)
	}
	conn, err := grpc.NewClient(ln.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		_ = ln.Close()
		return nil, fmt.Errorf("connecting to controller gRPC: %w", err)
	}
	l := &loopback{srv: grpc.NewServer(), conn: conn, client: rpc.NewControllerClient(conn), served: make(chan error, 1)}
	runnelpb.RegisterControllerServiceServer(l.srv, rpc.NewControllerServer(ctrl))
	go func() { l.served <- l.srv.Serve(ln) }()
	return l, nil
}

// stop closes the client and the server. The API's streams have ended by
// then, so nothing is cut short.
func (l *loopback) stop() error {
	err := l.conn.Close()
	l.srv.Stop()
	if serr := <-l.served; serr != nil && !errors.Is(serr, grpc.ErrServerStopped) {
		err = errors.Join(err, fmt.Errorf("controller gRPC server: %w", serr))
	}
	return err
}
