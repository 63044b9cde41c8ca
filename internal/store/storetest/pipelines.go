package storetest

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/runnel-dev/runnel/internal/lifecycle"
	"github.com/runnel-dev/runnel/internal/store"
)

func testCreateGet(t *testing.T, s store.Store) {
	p := newPipeline("a", base)
	p.Name = "full"
	p.UDFs = []store.UDF{{Definition: "fn f() {}", Language: "rust"}, {Definition: "def g(): pass", Language: "python"}}
	p.EnableSinks = true
	p.Parallelism = 3
	p.Job.CreatedAt = base.Add(time.Millisecond)
	p.Job.Config.CheckpointInterval = 1500 * time.Millisecond
	p.Job.Config.ParallelismOverrides = map[int]int{1: 4, 7: 2}
	p.Job.Config.RestartNonce = 3
	p.Job.Config.RestartMode = store.RestartForce
	p.Job.Config.UpdatedAt = base.Add(2 * time.Millisecond)
	// Whatever status the caller passes, a new job starts Created, run 0.
	p.Job.Status = store.JobStatus{State: lifecycle.Running, RunID: 9, Restarts: 4}
	mustCreate(t, s, p)

	got := getPipeline(t, s, "a", p.ID)
	if d := diff(created(p), got); d != "" {
		t.Errorf("GetPipeline after create (-want +got):\n%s", d)
	}
	if string(got.Graph) != string(p.Graph) {
		t.Errorf("graph = %s, want %s", got.Graph, p.Graph)
	}

	pv := newPreview("a", base)
	pv.EnableSinks = true
	mustCreate(t, s, pv)
	gotPv := getPipeline(t, s, "a", pv.ID)
	if d := diff(created(pv), gotPv); d != "" {
		t.Errorf("GetPipeline of preview (-want +got):\n%s", d)
	}
	if !gotPv.Preview || gotPv.Job.Config.TTL != time.Minute {
		t.Errorf("preview = %v, ttl = %v; want true, 1m", gotPv.Preview, gotPv.Job.Config.TTL)
	}

	_, err := s.GetPipeline(t.Context(), "a", store.NewID("pl"))
	wantErr(t, "GetPipeline(unknown)", err, store.ErrNotFound)
	_, err = s.GetPipeline(t.Context(), "b", p.ID)
	wantErr(t, "GetPipeline(other org)", err, store.ErrNotFound)
}

// testCreateMinimal checks the empty cases: no UDFs, graph, overrides or TTL.
func testCreateMinimal(t *testing.T, s store.Store) {
	p := newPipeline("a", base)
	p.Graph = nil
	p.UDFs = []store.UDF{}
	mustCreate(t, s, p)
	got := getPipeline(t, s, "a", p.ID)
	if len(got.UDFs) != 0 {
		t.Errorf("UDFs = %v, want none", got.UDFs)
	}
	if len(got.Graph) != 0 {
		t.Errorf("Graph = %q, want empty", got.Graph)
	}
	if got.Job.Config.ParallelismOverrides != nil {
		t.Errorf("ParallelismOverrides = %v, want nil", got.Job.Config.ParallelismOverrides)
	}
	if got.Job.Config.TTL != 0 || got.Preview {
		t.Errorf("TTL = %v, preview = %v; want 0, false", got.Job.Config.TTL, got.Preview)
	}
	st := got.Job.Status
	if st.State != lifecycle.Created || st.RunID != 0 || st.StartTime != nil || st.FinishTime != nil ||
		st.Tasks != nil || st.Failure != nil || st.Restarts != 0 || st.RestartNonce != 0 {
		t.Errorf("initial status = %+v, want Created with nothing set", st)
	}
}

func testCreateInvalid(t *testing.T, s store.Store) {
	for name, mutate := range map[string]func(*store.Pipeline){
		"no org":         func(p *store.Pipeline) { p.OrgID = "" },
		"no pipeline id": func(p *store.Pipeline) { p.ID = "" },
		"no job id":      func(p *store.Pipeline) { p.Job.ID = "" },
	} {
		p := newPipeline("a", base)
		mutate(&p)
		if err := s.CreatePipeline(t.Context(), p, 0); err == nil {
			t.Errorf("CreatePipeline(%s) succeeded, want an error", name)
		}
	}
	if ps := listAll(t, s, "a"); len(ps) != 0 {
		t.Errorf("invalid creates left %d pipelines", len(ps))
	}
}

func testCreateDuplicate(t *testing.T, s store.Store) {
	p := mustCreate(t, s, newPipeline("a", base))

	again := newPipeline("a", base.Add(time.Second))
	again.ID = p.ID
	wantErr(t, "CreatePipeline(same pipeline id)", s.CreatePipeline(t.Context(), again, 0), store.ErrDuplicate)

	// The pipeline row goes in before the job row: a duplicate job id must
	// roll the new pipeline back too.
	sameJob := newPipeline("a", base.Add(time.Second))
	sameJob.Job.ID = p.Job.ID
	wantErr(t, "CreatePipeline(same job id)", s.CreatePipeline(t.Context(), sameJob, 0), store.ErrDuplicate)
	_, err := s.GetPipeline(t.Context(), "a", sameJob.ID)
	wantErr(t, "GetPipeline of the rejected create", err, store.ErrNotFound)

	if ids := pipelineIDs(listAll(t, s, "a")); !slices.Equal(ids, []string{p.ID}) {
		t.Errorf("pipelines = %v, want only %s", ids, p.ID)
	}
	if got := getPipeline(t, s, "a", p.ID); !got.Job.CreatedAt.Equal(us(base)) {
		t.Errorf("original pipeline changed: %+v", got)
	}
}

func testCreateLimit(t *testing.T, s store.Store) {
	ctx := t.Context()
	const max = 2
	p1 := newPipeline("a", base)
	p2 := newPipeline("a", base.Add(time.Second))
	for _, p := range []store.Pipeline{p1, p2} {
		if err := s.CreatePipeline(ctx, p, max); err != nil {
			t.Fatalf("CreatePipeline under the limit: %v", err)
		}
	}
	// The cap is exact: the third running job is refused and leaves no row.
	p3 := newPipeline("a", base.Add(2*time.Second))
	wantLimit(t, "third create with max 2", s.CreatePipeline(ctx, p3, max), max)
	_, err := s.GetPipeline(ctx, "a", p3.ID)
	wantErr(t, "GetPipeline of the rejected create", err, store.ErrNotFound)
	jobs, err := s.ListJobs(ctx, "a", "")
	if err != nil || len(jobs) != 2 {
		t.Fatalf("ListJobs after rejected create: %d jobs, err %v; want 2", len(jobs), err)
	}
	all, err := s.AllPipelines(ctx)
	if err != nil || len(all) != 2 {
		t.Fatalf("AllPipelines after rejected create: %d, err %v; want 2", len(all), err)
	}

	// Previews are never limited and never count.
	for i := range 3 {
		if err := s.CreatePipeline(ctx, newPreview("a", base.Add(time.Duration(i)*time.Second)), max); err != nil {
			t.Fatalf("CreatePipeline(preview) at the limit: %v", err)
		}
	}
	wantLimit(t, "create after previews", s.CreatePipeline(ctx, p3, max), max)

	// Other orgs have their own count.
	for range max {
		if err := s.CreatePipeline(ctx, newPipeline("b", base), max); err != nil {
			t.Fatalf("CreatePipeline(org b): %v", err)
		}
	}

	// No limit when max is 0.
	if err := s.CreatePipeline(ctx, newPipeline("a", base), 0); err != nil {
		t.Fatalf("CreatePipeline(max 0): %v", err)
	}
	if n := len(listAll(t, s, "a")); n != 3 {
		t.Fatalf("org a has %d pipelines, want 3", n)
	}
	// Now 3 running: still refused with max 3, then free slots one by one.
	wantLimit(t, "create with 3 running, max 3", s.CreatePipeline(ctx, newPipeline("a", base), 3), 3)

	// Failed and Finished jobs do not hold a slot.
	setState(t, s, p1.Job.ID, lifecycle.Failed)
	if err := s.CreatePipeline(ctx, newPipeline("a", base), 3); err != nil {
		t.Fatalf("create after a job failed: %v", err)
	}
	wantLimit(t, "create after the freed slot was taken", s.CreatePipeline(ctx, newPipeline("a", base), 3), 3)
	setState(t, s, p2.Job.ID, lifecycle.Finished)
	if err := s.CreatePipeline(ctx, newPipeline("a", base), 3); err != nil {
		t.Fatalf("create after a job finished: %v", err)
	}

	// A job asked to stop does not hold a slot, whatever its state...
	wantLimit(t, "create at the limit", s.CreatePipeline(ctx, newPipeline("a", base), 3), 3)
	running := listAll(t, s, "a")
	var victim store.Pipeline
	for _, p := range running {
		if p.Job.Status.State == lifecycle.Created {
			victim = p
			break
		}
	}
	setStop(t, s, "a", victim.ID, lifecycle.StopCheckpoint)
	if err := s.CreatePipeline(ctx, newPipeline("a", base), 3); err != nil {
		t.Fatalf("create after a stop was requested: %v", err)
	}

	// ...while a Stopped job that is asked to run does (it is starting).
	setState(t, s, victim.Job.ID, lifecycle.Stopped)
	setStop(t, s, "a", victim.ID, lifecycle.StopNone)
	wantLimit(t, "create with a starting Stopped job", s.CreatePipeline(ctx, newPipeline("a", base), 4), 4)
}

func testCreateLimitConcurrent(t *testing.T, s store.Store) {
	const (
		max     = 3
		writers = 8
	)
	errs := make(chan error, writers)
	start := make(chan struct{})
	for i := range writers {
		go func() {
			<-start
			errs <- s.CreatePipeline(t.Context(), newPipeline("a", base.Add(time.Duration(i)*time.Second)), max)
		}()
	}
	close(start)
	ok, limited := 0, 0
	for range writers {
		err := <-errs
		var le *store.LimitError
		switch {
		case err == nil:
			ok++
		case errors.As(err, &le):
			limited++
		default:
			t.Errorf("concurrent create: %v", err)
		}
	}
	if ok != max || limited != writers-max {
		t.Errorf("concurrent creates: %d ok, %d limited; want %d, %d", ok, limited, max, writers-max)
	}
	if n := len(listAll(t, s, "a")); n != max {
		t.Errorf("%d pipelines stored, want %d", n, max)
	}
}

func testUpdateJobConfig(t *testing.T, s store.Store) {
	ctx := t.Context()
	p := mustCreate(t, s, newPipeline("a", base))
	want := created(p)

	before := time.Now().Add(-time.Second)
	stop := lifecycle.StopCheckpoint
	got, err := s.UpdateJobConfig(ctx, "a", p.ID, store.ConfigPatch{Stop: &stop}, 0)
	if err != nil {
		t.Fatalf("UpdateJobConfig(stop): %v", err)
	}
	if got.Job.Config.UpdatedAt.Before(before) {
		t.Errorf("UpdatedAt = %v, want about now", got.Job.Config.UpdatedAt)
	}
	want.Job.Config.Stop = lifecycle.StopCheckpoint
	want.Job.Config.UpdatedAt = got.Job.Config.UpdatedAt
	if d := diff(want, got); d != "" {
		t.Errorf("after stop patch (-want +got):\n%s", d)
	}

	interval := 30 * time.Second
	got, err = s.UpdateJobConfig(ctx, "a", p.ID, store.ConfigPatch{CheckpointInterval: &interval}, 0)
	if err != nil {
		t.Fatalf("UpdateJobConfig(interval): %v", err)
	}
	want.Job.Config.CheckpointInterval = interval
	want.Job.Config.UpdatedAt = got.Job.Config.UpdatedAt
	if d := diff(want, got); d != "" {
		t.Errorf("after interval patch, stop must stay (-want +got):\n%s", d)
	}

	got, err = s.UpdateJobConfig(ctx, "a", p.ID, store.ConfigPatch{ParallelismOverrides: map[int]int{1: 4, 2: 4}}, 0)
	if err != nil {
		t.Fatalf("UpdateJobConfig(overrides): %v", err)
	}
	want.Job.Config.ParallelismOverrides = map[int]int{1: 4, 2: 4}
	want.Job.Config.UpdatedAt = got.Job.Config.UpdatedAt
	if d := diff(want, got); d != "" {
		t.Errorf("after overrides patch (-want +got):\n%s", d)
	}

	// An empty patch changes nothing but the update time.
	got, err = s.UpdateJobConfig(ctx, "a", p.ID, store.ConfigPatch{}, 0)
	if err != nil {
		t.Fatalf("UpdateJobConfig(empty): %v", err)
	}
	want.Job.Config.UpdatedAt = got.Job.Config.UpdatedAt
	if d := diff(want, got); d != "" {
		t.Errorf("after empty patch (-want +got):\n%s", d)
	}
	if d := diff(want, getPipeline(t, s, "a", p.ID)); d != "" {
		t.Errorf("GetPipeline disagrees with the returned pipeline (-want +got):\n%s", d)
	}

	// An empty, non-nil map clears the overrides.
	got, err = s.UpdateJobConfig(ctx, "a", p.ID, store.ConfigPatch{ParallelismOverrides: map[int]int{}}, 0)
	if err != nil {
		t.Fatalf("UpdateJobConfig(clear overrides): %v", err)
	}
	if got.Job.Config.ParallelismOverrides != nil {
		t.Errorf("overrides after clearing = %v, want nil", got.Job.Config.ParallelismOverrides)
	}

	_, err = s.UpdateJobConfig(ctx, "a", store.NewID("pl"), store.ConfigPatch{Stop: &stop}, 0)
	wantErr(t, "UpdateJobConfig(unknown)", err, store.ErrNotFound)
	none := lifecycle.StopNone
	_, err = s.UpdateJobConfig(ctx, "b", p.ID, store.ConfigPatch{Stop: &none}, 0)
	wantErr(t, "UpdateJobConfig(other org)", err, store.ErrNotFound)
	if got := getPipeline(t, s, "a", p.ID); got.Job.Config.Stop != lifecycle.StopCheckpoint {
		t.Errorf("other org's patch changed stop to %s", got.Job.Config.Stop)
	}
}

func testStartLimit(t *testing.T, s store.Store) {
	ctx := t.Context()
	none, ckpt := lifecycle.StopNone, lifecycle.StopCheckpoint
	a := mustCreate(t, s, newPipeline("a", base))
	b := mustCreate(t, s, newPipeline("a", base.Add(time.Second)))
	setStop(t, s, "a", b.ID, lifecycle.StopCheckpoint)
	setState(t, s, b.Job.ID, lifecycle.Stopped)

	// Starting b while a runs, max 1: refused, nothing written.
	_, err := s.UpdateJobConfig(ctx, "a", b.ID, store.ConfigPatch{Stop: &none, CheckpointInterval: ptr(time.Minute)}, 1)
	wantLimit(t, "start at the limit", err, 1)
	if got := getPipeline(t, s, "a", b.ID); got.Job.Config.Stop != ckpt || got.Job.Config.CheckpointInterval != 10*time.Second {
		t.Errorf("refused start changed the config: %+v", got.Job.Config)
	}

	// a already holds its slot: asking it to run again is fine at the limit.
	if _, err := s.UpdateJobConfig(ctx, "a", a.ID, store.ConfigPatch{Stop: &none}, 1); err != nil {
		t.Errorf("re-start of a running job at the limit: %v", err)
	}
	// Other patches are never limited.
	if _, err := s.UpdateJobConfig(ctx, "a", b.ID, store.ConfigPatch{CheckpointInterval: ptr(time.Minute)}, 1); err != nil {
		t.Errorf("interval patch at the limit: %v", err)
	}
	// Previews are never limited.
	pv := mustCreate(t, s, newPreview("a", base))
	setStop(t, s, "a", pv.ID, lifecycle.StopImmediate)
	if _, err := s.UpdateJobConfig(ctx, "a", pv.ID, store.ConfigPatch{Stop: &none}, 1); err != nil {
		t.Errorf("start of a preview at the limit: %v", err)
	}

	// Stop a; b may start.
	setStop(t, s, "a", a.ID, lifecycle.StopCheckpoint)
	got, err := s.UpdateJobConfig(ctx, "a", b.ID, store.ConfigPatch{Stop: &none}, 1)
	if err != nil {
		t.Fatalf("start with a free slot: %v", err)
	}
	if got.Job.Config.Stop != none {
		t.Errorf("started job has stop %s", got.Job.Config.Stop)
	}

	// A Failed job with stop none does not hold a slot; asking it to run
	// again is a start and is checked.
	setState(t, s, a.Job.ID, lifecycle.Failed)
	setStop(t, s, "a", a.ID, lifecycle.StopNone)
	_, err = s.UpdateJobConfig(ctx, "a", a.ID, store.ConfigPatch{Stop: &none}, 1)
	wantLimit(t, "start of a failed job at the limit", err, 1)
	if _, err := s.UpdateJobConfig(ctx, "a", a.ID, store.ConfigPatch{Stop: &none}, 2); err != nil {
		t.Errorf("start of a failed job under the limit: %v", err)
	}

	// Another org's running jobs do not count.
	c := mustCreate(t, s, newPipeline("b", base))
	setStop(t, s, "b", c.ID, lifecycle.StopCheckpoint)
	if _, err := s.UpdateJobConfig(ctx, "b", c.ID, store.ConfigPatch{Stop: &none}, 1); err != nil {
		t.Errorf("start in an org with no running job: %v", err)
	}
}

func testRequestRestart(t *testing.T, s store.Store) {
	ctx := t.Context()
	p := mustCreate(t, s, newPipeline("a", base))
	before := time.Now().Add(-time.Second)
	got, err := s.RequestRestart(ctx, "a", p.ID, store.RestartForce, 0)
	if err != nil {
		t.Fatalf("RequestRestart: %v", err)
	}
	if got.Job.Config.RestartNonce != 1 || got.Job.Config.RestartMode != store.RestartForce {
		t.Errorf("after restart: nonce %d mode %s, want 1 force", got.Job.Config.RestartNonce, got.Job.Config.RestartMode)
	}
	if got.Job.Config.UpdatedAt.Before(before) {
		t.Errorf("UpdatedAt = %v, want about now", got.Job.Config.UpdatedAt)
	}
	want := created(p)
	want.Job.Config.RestartNonce, want.Job.Config.RestartMode = 1, store.RestartForce
	want.Job.Config.UpdatedAt = got.Job.Config.UpdatedAt
	if d := diff(want, got); d != "" {
		t.Errorf("restart changed more than nonce and mode (-want +got):\n%s", d)
	}

	got, err = s.RequestRestart(ctx, "a", p.ID, store.RestartSafe, 0)
	if err != nil {
		t.Fatalf("second RequestRestart: %v", err)
	}
	if got.Job.Config.RestartNonce != 2 || got.Job.Config.RestartMode != store.RestartSafe {
		t.Errorf("after second restart: nonce %d mode %s, want 2 safe", got.Job.Config.RestartNonce, got.Job.Config.RestartMode)
	}
	if d := diff(got, getPipeline(t, s, "a", p.ID)); d != "" {
		t.Errorf("GetPipeline disagrees with the returned pipeline (-want +got):\n%s", d)
	}
	// The controller's acknowledged nonce is its own business.
	if got.Job.Status.RestartNonce != 0 {
		t.Errorf("status restart nonce = %d, want 0", got.Job.Status.RestartNonce)
	}

	_, err = s.RequestRestart(ctx, "a", store.NewID("pl"), store.RestartSafe, 0)
	wantErr(t, "RequestRestart(unknown)", err, store.ErrNotFound)
	_, err = s.RequestRestart(ctx, "b", p.ID, store.RestartSafe, 0)
	wantErr(t, "RequestRestart(other org)", err, store.ErrNotFound)
	if got := getPipeline(t, s, "a", p.ID); got.Job.Config.RestartNonce != 2 {
		t.Errorf("other org's restart changed the nonce to %d", got.Job.Config.RestartNonce)
	}
}

func testRestartLimit(t *testing.T, s store.Store) {
	ctx := t.Context()
	a := mustCreate(t, s, newPipeline("a", base))
	b := mustCreate(t, s, newPipeline("a", base.Add(time.Second)))
	setState(t, s, b.Job.ID, lifecycle.Failed)

	// b failed and wants to run: restarting it takes a slot a holds.
	_, err := s.RequestRestart(ctx, "a", b.ID, store.RestartSafe, 1)
	wantLimit(t, "restart of a failed job at the limit", err, 1)
	if got := getPipeline(t, s, "a", b.ID); got.Job.Config.RestartNonce != 0 {
		t.Errorf("refused restart bumped the nonce to %d", got.Job.Config.RestartNonce)
	}
	// a holds its slot already.
	if _, err := s.RequestRestart(ctx, "a", a.ID, store.RestartSafe, 1); err != nil {
		t.Errorf("restart of a running job at the limit: %v", err)
	}
	// A failed job that is asked to stay stopped does not start.
	setStop(t, s, "a", b.ID, lifecycle.StopCheckpoint)
	if _, err := s.RequestRestart(ctx, "a", b.ID, store.RestartSafe, 1); err != nil {
		t.Errorf("restart of a stopped, failed job at the limit: %v", err)
	}
	// With a stopped, b may run again.
	setStop(t, s, "a", b.ID, lifecycle.StopNone)
	setStop(t, s, "a", a.ID, lifecycle.StopCheckpoint)
	got, err := s.RequestRestart(ctx, "a", b.ID, store.RestartSafe, 1)
	if err != nil {
		t.Fatalf("restart with a free slot: %v", err)
	}
	if got.Job.Config.RestartNonce != 2 {
		t.Errorf("nonce = %d, want 2", got.Job.Config.RestartNonce)
	}
}

func testDeletePipeline(t *testing.T, s store.Store) {
	ctx := t.Context()
	p := mustCreate(t, s, newPipeline("a", base))
	keep := mustCreate(t, s, newPipeline("a", base))
	for _, pl := range []store.Pipeline{p, keep} {
		if err := s.AddLogMessage(ctx, store.LogMessage{OrgID: "a", ID: store.NewID("jlm"), JobID: pl.Job.ID, CreatedAt: base, Level: store.LevelError, Message: "boom"}); err != nil {
			t.Fatal(err)
		}
		if err := s.PutCheckpoint(ctx, store.Checkpoint{OrgID: "a", ID: store.NewID("chk"), JobID: pl.Job.ID, Epoch: 1, Backend: "parquet", State: store.CheckpointReady, StartTime: base}); err != nil {
			t.Fatal(err)
		}
	}

	for _, st := range []lifecycle.State{lifecycle.Created, lifecycle.Running, lifecycle.Stopping, lifecycle.CheckpointStopping, lifecycle.Failing, lifecycle.Finishing} {
		setState(t, s, p.Job.ID, st)
		wantErr(t, "DeletePipeline in state "+string(st), s.DeletePipeline(ctx, "a", p.ID), store.ErrNotTerminal)
	}
	if _, err := s.GetPipeline(ctx, "a", p.ID); err != nil {
		t.Fatalf("refused delete removed the pipeline: %v", err)
	}

	setState(t, s, p.Job.ID, lifecycle.Stopped)
	wantErr(t, "DeletePipeline(other org)", s.DeletePipeline(ctx, "b", p.ID), store.ErrNotFound)
	if err := s.DeletePipeline(ctx, "a", p.ID); err != nil {
		t.Fatalf("DeletePipeline(stopped): %v", err)
	}
	_, err := s.GetPipeline(ctx, "a", p.ID)
	wantErr(t, "GetPipeline after delete", err, store.ErrNotFound)
	_, err = s.GetJob(ctx, "a", p.ID, p.Job.ID)
	wantErr(t, "GetJob after delete", err, store.ErrNotFound)
	_, err = s.ListJobs(ctx, "a", p.ID)
	wantErr(t, "ListJobs after delete", err, store.ErrNotFound)
	_, _, err = s.ListLogMessages(ctx, "a", p.Job.ID, store.LevelError, store.Page{})
	wantErr(t, "ListLogMessages after delete", err, store.ErrNotFound)
	_, err = s.ListCheckpoints(ctx, "a", p.Job.ID)
	wantErr(t, "ListCheckpoints after delete", err, store.ErrNotFound)
	_, err = s.GetCheckpoint(ctx, "a", p.Job.ID, 1)
	wantErr(t, "GetCheckpoint after delete", err, store.ErrNotFound)
	wantErr(t, "UpdateJobStatus after delete", s.UpdateJobStatus(ctx, p.Job.ID, store.JobStatus{State: lifecycle.Running}), store.ErrNotFound)
	wantErr(t, "DeletePipeline again", s.DeletePipeline(ctx, "a", p.ID), store.ErrNotFound)
	// The job id is free again: its rows went with the pipeline.
	reuse := newPipeline("a", base)
	reuse.Job.ID = p.Job.ID
	mustCreate(t, s, reuse)
	if ms, _, err := s.ListLogMessages(ctx, "a", p.Job.ID, store.LevelError, store.Page{}); err != nil || len(ms) != 0 {
		t.Errorf("log messages of a deleted job survived: %d, %v", len(ms), err)
	}
	if cs, err := s.ListCheckpoints(ctx, "a", p.Job.ID); err != nil || len(cs) != 0 {
		t.Errorf("checkpoints of a deleted job survived: %d, %v", len(cs), err)
	}

	// The other pipeline is untouched.
	if ms, _, err := s.ListLogMessages(ctx, "a", keep.Job.ID, store.LevelError, store.Page{}); err != nil || len(ms) != 1 {
		t.Errorf("other pipeline's log messages: %d, %v; want 1", len(ms), err)
	}
	if cs, err := s.ListCheckpoints(ctx, "a", keep.Job.ID); err != nil || len(cs) != 1 {
		t.Errorf("other pipeline's checkpoints: %d, %v; want 1", len(cs), err)
	}

	for _, st := range []lifecycle.State{lifecycle.Finished, lifecycle.Failed} {
		q := mustCreate(t, s, newPipeline("a", base))
		setState(t, s, q.Job.ID, st)
		if err := s.DeletePipeline(ctx, "a", q.ID); err != nil {
			t.Errorf("DeletePipeline(%s): %v", st, err)
		}
	}
	wantErr(t, "DeletePipeline(unknown)", s.DeletePipeline(ctx, "a", store.NewID("pl")), store.ErrNotFound)
}

func testListPipelinesPagination(t *testing.T, s store.Store) {
	ctx := t.Context()
	var made []store.Pipeline
	for i := range 5 {
		made = append(made, mustCreate(t, s, newPipeline("a", base.Add(time.Duration(i)*time.Second))))
	}
	// Two more created at the same instant as made[2]: ties break on id.
	for range 2 {
		made = append(made, mustCreate(t, s, newPipeline("a", base.Add(2*time.Second))))
	}
	pv := mustCreate(t, s, newPreview("a", base.Add(10*time.Second)))
	other := mustCreate(t, s, newPipeline("b", base.Add(10*time.Second)))

	want := slices.Clone(made)
	slices.SortFunc(want, func(x, y store.Pipeline) int {
		if c := y.CreatedAt.Compare(x.CreatedAt); c != 0 {
			return c
		}
		return strings.Compare(y.ID, x.ID)
	})
	wantIDs := pipelineIDs(want)

	var gotIDs []string
	after := ""
	for page := 0; ; page++ {
		ps, more, err := s.ListPipelines(ctx, "a", store.Page{StartingAfter: after, Limit: 3})
		if err != nil {
			t.Fatalf("ListPipelines page %d: %v", page, err)
		}
		wantLen, wantMore := 3, page < 2
		if page == 2 {
			wantLen = 1
		}
		if len(ps) != wantLen || more != wantMore {
			t.Fatalf("page %d: %d items, hasMore %v; want %d, %v", page, len(ps), more, wantLen, wantMore)
		}
		for _, p := range ps {
			if d := diff(created(findByID(made, p.ID)), p); d != "" {
				t.Errorf("listed pipeline differs (-want +got):\n%s", d)
			}
		}
		gotIDs = append(gotIDs, pipelineIDs(ps)...)
		if !more {
			break
		}
		after = ps[len(ps)-1].ID
	}
	if !slices.Equal(gotIDs, wantIDs) {
		t.Errorf("paged ids = %v\nwant newest first %v", gotIDs, wantIDs)
	}

	for _, tc := range []struct {
		limit    int
		wantLen  int
		wantMore bool
	}{{7, 7, false}, {8, 7, false}, {6, 6, true}, {0, 7, false} /* default page of 10 */} {
		ps, more, err := s.ListPipelines(ctx, "a", store.Page{Limit: tc.limit})
		if err != nil || len(ps) != tc.wantLen || more != tc.wantMore {
			t.Errorf("limit %d: %d items, hasMore %v, err %v; want %d, %v", tc.limit, len(ps), more, err, tc.wantLen, tc.wantMore)
		}
	}
	ps, more, err := s.ListPipelines(ctx, "a", store.Page{StartingAfter: wantIDs[6], Limit: 3})
	if err != nil || len(ps) != 0 || more {
		t.Errorf("page after the last item: %d items, hasMore %v, err %v; want none", len(ps), more, err)
	}

	for name, cursor := range map[string]string{"unknown": store.NewID("pl"), "preview": pv.ID, "other org": other.ID} {
		_, _, err := s.ListPipelines(ctx, "a", store.Page{StartingAfter: cursor, Limit: 3})
		wantErr(t, "ListPipelines(starting_after "+name+")", err, store.ErrNotFound)
	}
	if ps, more, err := s.ListPipelines(ctx, "nobody", store.Page{Limit: 3}); err != nil || len(ps) != 0 || more {
		t.Errorf("empty org: %d items, hasMore %v, err %v", len(ps), more, err)
	}
}

func findByID(ps []store.Pipeline, id string) store.Pipeline {
	for _, p := range ps {
		if p.ID == id {
			return p
		}
	}
	return store.Pipeline{}
}

func testAllPipelines(t *testing.T, s store.Store) {
	made := map[string]store.Pipeline{}
	for _, p := range []store.Pipeline{
		newPipeline("a", base), newPreview("a", base.Add(time.Second)),
		newPipeline("b", base.Add(2*time.Second)), newPreview("c", base.Add(3*time.Second)),
	} {
		made[p.ID] = mustCreate(t, s, p)
	}
	setState(t, s, findAny(made, "b").Job.ID, lifecycle.Running)
	all, err := s.AllPipelines(t.Context())
	if err != nil {
		t.Fatalf("AllPipelines: %v", err)
	}
	if len(all) != len(made) {
		t.Fatalf("AllPipelines returned %d, want %d", len(all), len(made))
	}
	for _, got := range all {
		p, ok := made[got.ID]
		if !ok {
			t.Fatalf("unexpected pipeline %s", got.ID)
		}
		want := created(p)
		if p.OrgID == "b" {
			want.Job.Status = store.JobStatus{State: lifecycle.Running, UpdatedAt: us(base)}
		}
		if d := diff(want, got); d != "" {
			t.Errorf("AllPipelines item (-want +got):\n%s", d)
		}
	}
}

func findAny(m map[string]store.Pipeline, org string) store.Pipeline {
	for _, p := range m {
		if p.OrgID == org {
			return p
		}
	}
	return store.Pipeline{}
}

func testDeleteTerminalPreviews(t *testing.T, s store.Store) {
	ctx := t.Context()
	cutoff := base.Add(10 * time.Minute)
	type row struct {
		p       store.Pipeline
		state   lifecycle.State
		deleted bool
	}
	rows := []row{
		{newPreview("a", base), lifecycle.Stopped, true},
		{newPreview("a", base), lifecycle.Failed, true},
		{newPreview("b", base), lifecycle.Finished, true},
		{newPreview("a", base), lifecycle.Running, false},                     // not terminal
		{newPreview("a", base), lifecycle.Created, false},                     // not terminal
		{newPreview("a", cutoff.Add(time.Minute)), lifecycle.Finished, false}, // too new
		{newPreview("a", cutoff), lifecycle.Finished, false},                  // created at the cutoff, not before
		{newPipeline("a", base), lifecycle.Stopped, false},                    // not a preview
	}
	for _, r := range rows {
		mustCreate(t, s, r.p)
		if err := s.AddLogMessage(ctx, store.LogMessage{OrgID: r.p.OrgID, JobID: r.p.Job.ID, ID: store.NewID("jlm"), CreatedAt: base, Level: store.LevelWarn, Message: "m"}); err != nil {
			t.Fatal(err)
		}
		setState(t, s, r.p.Job.ID, r.state)
	}
	n, err := s.DeleteTerminalPreviews(ctx, cutoff)
	if err != nil {
		t.Fatalf("DeleteTerminalPreviews: %v", err)
	}
	if n != 3 {
		t.Errorf("DeleteTerminalPreviews = %d, want 3", n)
	}
	for _, r := range rows {
		_, err := s.GetPipeline(ctx, r.p.OrgID, r.p.ID)
		_, jerr := s.GetJob(ctx, r.p.OrgID, r.p.ID, r.p.Job.ID)
		if r.deleted {
			wantErr(t, "GetPipeline of a purged preview", err, store.ErrNotFound)
			wantErr(t, "GetJob of a purged preview", jerr, store.ErrNotFound)
		} else if err != nil || jerr != nil {
			t.Errorf("pipeline %s (%s, preview %v) was deleted: %v, %v", r.p.ID, r.state, r.p.Preview, err, jerr)
		}
	}
	if n, err := s.DeleteTerminalPreviews(ctx, cutoff); err != nil || n != 0 {
		t.Errorf("second DeleteTerminalPreviews = %d, %v; want 0", n, err)
	}
}
