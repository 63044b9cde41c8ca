package cluster

import (
	"context"

	"github.com/runnel-dev/runnel/internal/store"
)

// nudgingStore tells the in-process controller about every change of
// desired state as soon as it is committed, so jobs react without waiting
// for the controller's next poll. The poll stays as the safety net (and is
// all there is when the API runs in another process).
type nudgingStore struct {
	store.Store
	nudge func()
}

func (s nudgingStore) CreatePipeline(ctx context.Context, p store.Pipeline, maxRunning int) error {
	err := s.Store.CreatePipeline(ctx, p, maxRunning)
	if err == nil {
		s.nudge()
	}
	return err
}

func (s nudgingStore) UpdateJobConfig(ctx context.Context, org, pipelineID string, patch store.ConfigPatch, maxRunning int) (store.Pipeline, error) {
	p, err := s.Store.UpdateJobConfig(ctx, org, pipelineID, patch, maxRunning)
	if err == nil {
		s.nudge()
	}
	return p, err
}

func (s nudgingStore) RequestRestart(ctx context.Context, org, pipelineID string, mode store.RestartMode, maxRunning int) (store.Pipeline, error) {
	p, err := s.Store.RequestRestart(ctx, org, pipelineID, mode, maxRunning)
	if err == nil {
		s.nudge()
	}
	return p, err
}
