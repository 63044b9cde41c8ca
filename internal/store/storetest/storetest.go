// Package storetest is the conformance suite every store.Store
// implementation runs: the sqlite and postgres packages call Run from their
// tests.
package storetest

import (
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/runnel-dev/runnel/internal/lifecycle"
	"github.com/runnel-dev/runnel/internal/store"
)

// Run runs the suite. open must return a new, empty store each time it is
// called and undo whatever else it set up with t.Cleanup; Run closes the
// store itself. Subtests run in parallel, each on its own store.
func Run(t *testing.T, open func(t *testing.T) store.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s store.Store)
	}{
		{"CreateGet", testCreateGet},
		{"CreateMinimal", testCreateMinimal},
		{"CreateInvalid", testCreateInvalid},
		{"CreateDuplicate", testCreateDuplicate},
		{"CreateLimit", testCreateLimit},
		{"CreateLimitConcurrent", testCreateLimitConcurrent},
		{"UpdateJobConfig", testUpdateJobConfig},
		{"StartLimit", testStartLimit},
		{"RequestRestart", testRequestRestart},
		{"RestartLimit", testRestartLimit},
		{"DeletePipeline", testDeletePipeline},
		{"ListPipelinesPagination", testListPipelinesPagination},
		{"Jobs", testJobs},
		{"JobStatus", testJobStatus},
		{"LogMessages", testLogMessages},
		{"Checkpoints", testCheckpoints},
		{"AllPipelines", testAllPipelines},
		{"DeleteTerminalPreviews", testDeleteTerminalPreviews},
		{"OrgIsolation", testOrgIsolation},
		{"ConcurrentWriters", testConcurrentWriters},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := open(t)
			t.Cleanup(func() {
				if err := s.Close(); err != nil {
					t.Errorf("Close: %v", err)
				}
			})
			tc.fn(t, s)
		})
	}
}

// base has nanoseconds and a non-UTC zone on purpose: the store must return
// it in UTC truncated to microseconds.
var base = time.Date(2026, 3, 1, 12, 0, 0, 123456789, time.FixedZone("CET", 3600))

// us is t as the store returns it.
func us(t time.Time) time.Time { return time.UnixMicro(t.UnixMicro()).UTC() }

func usPtr(t time.Time) *time.Time { u := us(t); return &u }

func ptr[T any](v T) *T { return &v }

// strictTime compares instants and locations, so a time returned in another
// zone than UTC, or with nanoseconds, is a difference.
var strictTime = cmp.Comparer(func(a, b time.Time) bool {
	return a.Equal(b) && a.Location() == b.Location() && a.Nanosecond() == b.Nanosecond()
})

func diff(want, got any) string { return cmp.Diff(want, got, strictTime) }

// newPipeline returns a running-desired, non-preview pipeline of org.
func newPipeline(org string, at time.Time) store.Pipeline {
	return store.Pipeline{
		OrgID:       org,
		ID:          store.NewID("pl"),
		Name:        "pipeline",
		Query:       "SELECT * FROM impulse",
		Parallelism: 2,
		Graph:       []byte(`{"nodes":[{"node_id":1}],"edges":[]}`),
		CreatedAt:   at,
		Job: store.Job{
			ID:        store.NewID("job"),
			CreatedAt: at,
			Config: store.JobConfig{
				Stop:               lifecycle.StopNone,
				CheckpointInterval: 10 * time.Second,
				RestartMode:        store.RestartSafe,
				UpdatedAt:          at,
			},
		},
	}
}

func newPreview(org string, at time.Time) store.Pipeline {
	p := newPipeline(org, at)
	p.Name = "preview"
	p.Preview = true
	p.Job.Config.TTL = time.Minute
	p.Job.Config.CheckpointInterval = 24 * time.Hour
	return p
}

// created is what GetPipeline returns right after CreatePipeline(p).
func created(p store.Pipeline) store.Pipeline {
	w := p
	w.CreatedAt = us(p.CreatedAt)
	if len(w.UDFs) == 0 {
		w.UDFs = nil
	}
	w.Job.OrgID = p.OrgID
	w.Job.PipelineID = p.ID
	w.Job.CreatedAt = us(p.Job.CreatedAt)
	w.Job.Config.UpdatedAt = us(p.Job.Config.UpdatedAt)
	if len(w.Job.Config.ParallelismOverrides) == 0 {
		w.Job.Config.ParallelismOverrides = nil
	}
	w.Job.Status = store.JobStatus{State: lifecycle.Created, UpdatedAt: us(p.Job.CreatedAt)}
	return w
}

func mustCreate(t *testing.T, s store.Store, p store.Pipeline) store.Pipeline {
	t.Helper()
	if err := s.CreatePipeline(t.Context(), p, 0); err != nil {
		t.Fatalf("CreatePipeline(%s): %v", p.ID, err)
	}
	return p
}

func setState(t *testing.T, s store.Store, jobID string, state lifecycle.State) {
	t.Helper()
	if err := s.UpdateJobStatus(t.Context(), jobID, store.JobStatus{State: state, UpdatedAt: base}); err != nil {
		t.Fatalf("UpdateJobStatus(%s, %s): %v", jobID, state, err)
	}
}

func setStop(t *testing.T, s store.Store, org, pipelineID string, stop lifecycle.StopMode) {
	t.Helper()
	if _, err := s.UpdateJobConfig(t.Context(), org, pipelineID, store.ConfigPatch{Stop: &stop}, 0); err != nil {
		t.Fatalf("UpdateJobConfig(%s, stop=%s): %v", pipelineID, stop, err)
	}
}

func wantErr(t *testing.T, what string, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Errorf("%s: got error %v, want %v", what, err, target)
	}
}

func wantLimit(t *testing.T, what string, err error, max int) {
	t.Helper()
	var le *store.LimitError
	if !errors.As(err, &le) {
		t.Errorf("%s: got error %v, want *store.LimitError", what, err)
		return
	}
	if le.Max != max {
		t.Errorf("%s: LimitError.Max = %d, want %d", what, le.Max, max)
	}
}

func pipelineIDs(ps []store.Pipeline) []string {
	ids := make([]string, len(ps))
	for i, p := range ps {
		ids[i] = p.ID
	}
	return ids
}

func getPipeline(t *testing.T, s store.Store, org, id string) store.Pipeline {
	t.Helper()
	p, err := s.GetPipeline(t.Context(), org, id)
	if err != nil {
		t.Fatalf("GetPipeline(%s, %s): %v", org, id, err)
	}
	return p
}

func listAll(t *testing.T, s store.Store, org string) []store.Pipeline {
	t.Helper()
	ps, more, err := s.ListPipelines(t.Context(), org, store.Page{Limit: 1000})
	if err != nil || more {
		t.Fatalf("ListPipelines(%s): more=%v err=%v", org, more, err)
	}
	return ps
}
