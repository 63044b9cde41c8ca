package storetest

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/runnel-dev/runnel/internal/lifecycle"
	"github.com/runnel-dev/runnel/internal/store"
)

func testJobs(t *testing.T, s store.Store) {
	ctx := t.Context()
	p1 := mustCreate(t, s, newPipeline("a", base))
	p2 := mustCreate(t, s, newPipeline("a", base.Add(time.Second)))
	pv := mustCreate(t, s, newPreview("a", base.Add(2*time.Second)))
	other := mustCreate(t, s, newPipeline("b", base.Add(3*time.Second)))

	js, err := s.ListJobs(ctx, "a", "")
	if err != nil {
		t.Fatalf("ListJobs(all): %v", err)
	}
	if d := diff([]store.Job{created(p2).Job, created(p1).Job}, js); d != "" {
		t.Errorf("ListJobs(all) must list non-preview jobs of the org, newest first (-want +got):\n%s", d)
	}

	js, err = s.ListJobs(ctx, "a", p1.ID)
	if err != nil {
		t.Fatalf("ListJobs(p1): %v", err)
	}
	if d := diff([]store.Job{created(p1).Job}, js); d != "" {
		t.Errorf("ListJobs(p1) (-want +got):\n%s", d)
	}
	// A preview's own job list shows its job.
	js, err = s.ListJobs(ctx, "a", pv.ID)
	if err != nil || len(js) != 1 || js[0].ID != pv.Job.ID {
		t.Errorf("ListJobs(preview) = %v, %v; want its job", js, err)
	}
	_, err = s.ListJobs(ctx, "a", store.NewID("pl"))
	wantErr(t, "ListJobs(unknown pipeline)", err, store.ErrNotFound)
	_, err = s.ListJobs(ctx, "a", other.ID)
	wantErr(t, "ListJobs(other org's pipeline)", err, store.ErrNotFound)
	if js, err := s.ListJobs(ctx, "nobody", ""); err != nil || len(js) != 0 {
		t.Errorf("ListJobs(empty org) = %v, %v", js, err)
	}

	j, err := s.GetJob(ctx, "a", p1.ID, p1.Job.ID)
	if err != nil {
		t.Fatalf("GetJob: %v", err)
	}
	if d := diff(created(p1).Job, j); d != "" {
		t.Errorf("GetJob (-want +got):\n%s", d)
	}
	if d := diff(getPipeline(t, s, "a", p1.ID).Job, j); d != "" {
		t.Errorf("GetJob disagrees with GetPipeline (-want +got):\n%s", d)
	}
	_, err = s.GetJob(ctx, "a", p2.ID, p1.Job.ID)
	wantErr(t, "GetJob(job of another pipeline)", err, store.ErrNotFound)
	_, err = s.GetJob(ctx, "a", p1.ID, store.NewID("job"))
	wantErr(t, "GetJob(unknown job)", err, store.ErrNotFound)
	_, err = s.GetJob(ctx, "a", other.ID, other.Job.ID)
	wantErr(t, "GetJob(other org)", err, store.ErrNotFound)
}

func testJobStatus(t *testing.T, s store.Store) {
	ctx := t.Context()
	p := mustCreate(t, s, newPipeline("a", base))
	start := base.Add(time.Second + 999)
	finish := base.Add(time.Minute + 1)
	full := store.JobStatus{
		State:        lifecycle.Failed,
		RunID:        7,
		StartTime:    &start,
		FinishTime:   &finish,
		Tasks:        ptr(12),
		Failure:      &store.Failure{Error: "operator value_3 panicked", Domain: store.DomainUser},
		Restarts:     3,
		RestartNonce: 2,
		UpdatedAt:    base.Add(time.Hour),
	}
	if err := s.UpdateJobStatus(ctx, p.Job.ID, full); err != nil {
		t.Fatalf("UpdateJobStatus: %v", err)
	}
	want := full
	want.StartTime, want.FinishTime, want.UpdatedAt = usPtr(start), usPtr(finish), us(full.UpdatedAt)
	j, err := s.GetJob(ctx, "a", p.ID, p.Job.ID)
	if err != nil {
		t.Fatalf("GetJob: %v", err)
	}
	if d := diff(want, j.Status); d != "" {
		t.Errorf("status round trip (-want +got):\n%s", d)
	}
	// The config is the API's: a status write leaves it alone.
	if d := diff(created(p).Job.Config, j.Config); d != "" {
		t.Errorf("status write changed the config (-want +got):\n%s", d)
	}

	// Every pointer back to nil; a failure without a domain.
	bare := store.JobStatus{State: lifecycle.Running, RunID: 8, UpdatedAt: base.Add(2 * time.Hour)}
	if err := s.UpdateJobStatus(ctx, p.Job.ID, bare); err != nil {
		t.Fatalf("UpdateJobStatus(bare): %v", err)
	}
	want = bare
	want.UpdatedAt = us(bare.UpdatedAt)
	if d := diff(want, getPipeline(t, s, "a", p.ID).Job.Status); d != "" {
		t.Errorf("status with nil pointers (-want +got):\n%s", d)
	}
	noDomain := store.JobStatus{State: lifecycle.Failing, Failure: &store.Failure{Error: "x"}, Tasks: ptr(0), UpdatedAt: base}
	if err := s.UpdateJobStatus(ctx, p.Job.ID, noDomain); err != nil {
		t.Fatalf("UpdateJobStatus(no domain): %v", err)
	}
	want = noDomain
	want.UpdatedAt = us(base)
	if d := diff(want, getPipeline(t, s, "a", p.ID).Job.Status); d != "" {
		t.Errorf("failure without domain, zero tasks (-want +got):\n%s", d)
	}

	// Every state name is accepted.
	for _, st := range lifecycle.States {
		setState(t, s, p.Job.ID, st)
		if got := getPipeline(t, s, "a", p.ID).Job.Status.State; got != st {
			t.Errorf("state %s read back as %s", st, got)
		}
	}
	if err := s.UpdateJobStatus(ctx, p.Job.ID, store.JobStatus{State: "Exploding"}); err == nil {
		t.Errorf("UpdateJobStatus accepted an unknown state")
	}
	wantErr(t, "UpdateJobStatus(unknown job)", s.UpdateJobStatus(ctx, store.NewID("job"), full), store.ErrNotFound)
}

func testOrgIsolation(t *testing.T, s store.Store) {
	ctx := t.Context()
	p := mustCreate(t, s, newPipeline("a", base))
	if err := s.AddLogMessage(ctx, store.LogMessage{OrgID: "a", ID: store.NewID("jlm"), JobID: p.Job.ID, CreatedAt: base, Level: store.LevelError, Message: "m"}); err != nil {
		t.Fatal(err)
	}
	if err := s.PutCheckpoint(ctx, store.Checkpoint{OrgID: "a", ID: store.NewID("chk"), JobID: p.Job.ID, Epoch: 1, Backend: "parquet", State: store.CheckpointReady, StartTime: base}); err != nil {
		t.Fatal(err)
	}
	const b = "b"
	none := lifecycle.StopNone

	_, err := s.GetPipeline(ctx, b, p.ID)
	wantErr(t, "GetPipeline", err, store.ErrNotFound)
	if ps, more, err := s.ListPipelines(ctx, b, store.Page{}); err != nil || len(ps) != 0 || more {
		t.Errorf("ListPipelines(b) = %d items, %v, %v", len(ps), more, err)
	}
	_, err = s.UpdateJobConfig(ctx, b, p.ID, store.ConfigPatch{Stop: &none}, 0)
	wantErr(t, "UpdateJobConfig", err, store.ErrNotFound)
	_, err = s.RequestRestart(ctx, b, p.ID, store.RestartForce, 0)
	wantErr(t, "RequestRestart", err, store.ErrNotFound)
	setState(t, s, p.Job.ID, lifecycle.Stopped)
	wantErr(t, "DeletePipeline", s.DeletePipeline(ctx, b, p.ID), store.ErrNotFound)
	if js, err := s.ListJobs(ctx, b, ""); err != nil || len(js) != 0 {
		t.Errorf("ListJobs(b) = %d jobs, %v", len(js), err)
	}
	_, err = s.ListJobs(ctx, b, p.ID)
	wantErr(t, "ListJobs(pipeline)", err, store.ErrNotFound)
	_, err = s.GetJob(ctx, b, p.ID, p.Job.ID)
	wantErr(t, "GetJob", err, store.ErrNotFound)
	wantErr(t, "AddLogMessage", s.AddLogMessage(ctx, store.LogMessage{OrgID: b, ID: store.NewID("jlm"), JobID: p.Job.ID, CreatedAt: base, Level: store.LevelError, Message: "m"}), store.ErrNotFound)
	_, _, err = s.ListLogMessages(ctx, b, p.Job.ID, store.LevelError, store.Page{})
	wantErr(t, "ListLogMessages", err, store.ErrNotFound)
	wantErr(t, "PutCheckpoint", s.PutCheckpoint(ctx, store.Checkpoint{OrgID: b, ID: store.NewID("chk"), JobID: p.Job.ID, Epoch: 2, Backend: "parquet", StartTime: base}), store.ErrNotFound)
	_, err = s.ListCheckpoints(ctx, b, p.Job.ID)
	wantErr(t, "ListCheckpoints", err, store.ErrNotFound)
	_, err = s.GetCheckpoint(ctx, b, p.Job.ID, 1)
	wantErr(t, "GetCheckpoint", err, store.ErrNotFound)

	// Org a sees everything unchanged.
	got := getPipeline(t, s, "a", p.ID)
	if got.Job.Config.RestartNonce != 0 || got.Job.Config.Stop != lifecycle.StopNone {
		t.Errorf("org b changed org a's job: %+v", got.Job.Config)
	}
	if ms, _, err := s.ListLogMessages(ctx, "a", p.Job.ID, store.LevelError, store.Page{}); err != nil || len(ms) != 1 {
		t.Errorf("org a's messages: %d, %v; want 1", len(ms), err)
	}
	if cs, err := s.ListCheckpoints(ctx, "a", p.Job.ID); err != nil || len(cs) != 1 {
		t.Errorf("org a's checkpoints: %d, %v; want 1", len(cs), err)
	}
}

// testConcurrentWriters runs every kind of write from several goroutines at
// once; none may fail (SQLite: no SQLITE_BUSY; PostgreSQL: no deadlock).
func testConcurrentWriters(t *testing.T, s store.Store) {
	const (
		writers = 6
		rounds  = 8
	)
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []string
	)
	fail := func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		errs = append(errs, fmt.Sprintf(format, args...))
	}
	for w := range writers {
		wg.Go(func() {
			ctx := t.Context()
			org := fmt.Sprintf("org%d", w%2) // two orgs, three writers each
			for i := range rounds {
				p := newPipeline(org, base.Add(time.Duration(w*rounds+i)*time.Millisecond))
				// A generous limit: it takes the limit-check path without
				// refusing anything.
				if err := s.CreatePipeline(ctx, p, writers*rounds+1); err != nil {
					fail("create: %v", err)
					continue
				}
				if err := s.UpdateJobStatus(ctx, p.Job.ID, store.JobStatus{State: lifecycle.Running, RunID: 1, UpdatedAt: base}); err != nil {
					fail("status: %v", err)
				}
				if err := s.AddLogMessage(ctx, store.LogMessage{OrgID: org, ID: store.NewID("jlm"), JobID: p.Job.ID, CreatedAt: base, Level: store.LevelError, Message: "m"}); err != nil {
					fail("log: %v", err)
				}
				if err := s.PutCheckpoint(ctx, store.Checkpoint{OrgID: org, ID: store.NewID("chk"), JobID: p.Job.ID, Epoch: 1, Backend: "parquet", StartTime: base}); err != nil {
					fail("checkpoint: %v", err)
				}
				none := lifecycle.StopNone
				if _, err := s.UpdateJobConfig(ctx, org, p.ID, store.ConfigPatch{Stop: &none}, writers*rounds+1); err != nil {
					fail("patch: %v", err)
				}
				if _, err := s.RequestRestart(ctx, org, p.ID, store.RestartSafe, writers*rounds+1); err != nil {
					fail("restart: %v", err)
				}
				if _, _, err := s.ListPipelines(ctx, org, store.Page{Limit: 5}); err != nil {
					fail("list: %v", err)
				}
				if _, err := s.AllPipelines(ctx); err != nil {
					fail("all: %v", err)
				}
			}
		})
	}
	wg.Wait()
	if len(errs) > 0 {
		slices.Sort(errs)
		t.Fatalf("%d concurrent operations failed:\n%s", len(errs), strings.Join(errs, "\n"))
	}
	all, err := s.AllPipelines(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != writers*rounds {
		t.Errorf("AllPipelines = %d, want %d", len(all), writers*rounds)
	}
	for _, p := range all {
		if p.Job.Status.State != lifecycle.Running || p.Job.Config.RestartNonce != 1 {
			t.Errorf("pipeline %s: state %s nonce %d, want Running 1", p.ID, p.Job.Status.State, p.Job.Config.RestartNonce)
		}
	}
}
