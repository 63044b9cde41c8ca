package cluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"google.golang.org/grpc"

	"github.com/runnel-dev/runnel/internal/config"
	"github.com/runnel-dev/runnel/internal/rpc"
)

// remoteController is the API's view of a controller in another process:
// the address configured, or else the leader PostgreSQL records.
type remoteController struct {
	*rpc.ControllerClient
	conn *grpc.ClientConn
	log  *slog.Logger
}

func newRemoteController(_ context.Context, cfg config.Config, log *slog.Logger) (*remoteController, error) {
	if cfg.API.ControllerAddr == "" {
		return nil, errors.New("api.controller_addr must be set when the API runs without a controller")
	}
	dial, err := tlsConfig(cfg).DialOption()
	if err != nil {
		return nil, err
	}
	conn, err := grpc.NewClient(cfg.API.ControllerAddr, dial)
	if err != nil {
		return nil, fmt.Errorf("connecting to the controller at %s: %w", cfg.API.ControllerAddr, err)
	}
	return &remoteController{ControllerClient: rpc.NewControllerClient(conn), conn: conn, log: log}, nil
}

// nudge tells the controller that desired state changed; its poll is the
// fallback, so a failed nudge only costs latency.
func (r *remoteController) nudge() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := r.Nudge(ctx); err != nil {
		r.log.Debug("nudging the controller", "err", err)
	}
}

func (r *remoteController) close() error { return r.conn.Close() }
