package cluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/grpc"

	"github.com/runnel-dev/runnel/internal/api"
	"github.com/runnel-dev/runnel/internal/config"
	"github.com/runnel-dev/runnel/internal/leader"
	"github.com/runnel-dev/runnel/internal/rpc"
	"github.com/runnel-dev/runnel/internal/store/storeopen"
)

// remoteController is the API's view of a controller over gRPC (in
// another process, or this one with api.controller_grpc): at the address
// configured, or else whichever controller PostgreSQL records as leader.
type remoteController struct {
	api.Controller
	nudge func()
	close func() error
}

func newRemoteController(ctx context.Context, cfg config.Config, log *slog.Logger) (*remoteController, error) {
	dial, err := TLSConfig(cfg).DialOption()
	if err != nil {
		return nil, err
	}
	log = log.With("component", "api")
	if addr := cfg.API.ControllerAddr; addr != "" {
		conn, err := grpc.NewClient(addr, dial)
		if err != nil {
			return nil, fmt.Errorf("connecting to the controller at %s: %w", addr, err)
		}
		c := rpc.NewControllerClient(conn)
		return &remoteController{Controller: c, nudge: rpc.NudgeFunc(c, 2*time.Second, log), close: conn.Close}, nil
	}
	if !storeopen.IsPostgres(cfg.DatabaseURL) {
		return nil, errors.New("api.controller_addr must be set when the API runs without a controller on SQLite")
	}
	pool, err := pgxpool.New(ctx, cfg.DatabaseURL)
	if err != nil {
		return nil, fmt.Errorf("connecting to PostgreSQL to find the controller: %w", err)
	}
	d := rpc.NewLeaderDialer(leader.AddressFunc(pool), log, dial)
	c := rpc.NewLeaderClient(d)
	return &remoteController{Controller: c, nudge: rpc.NudgeFunc(c, 2*time.Second, log), close: func() error {
		err := d.Close()
		pool.Close()
		return err
	}}, nil
}
