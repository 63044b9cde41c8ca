package cluster

import (
	"context"
	"errors"
	"log/slog"

	"github.com/runnel-dev/runnel/internal/config"
	"github.com/runnel-dev/runnel/internal/scheduler"
)

func kubernetesScheduler(context.Context, config.Config, *slog.Logger) (scheduler.Scheduler, func() error, error) {
	return nil, nil, errors.New("kubernetes scheduler: not wired yet")
}
