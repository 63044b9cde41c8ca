package api

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/runnel-dev/runnel/internal/metrics"
	"github.com/runnel-dev/runnel/internal/store"
)

func ptr[T any](v T) *T { return &v }

func TestJobRoutesCheckPipelineAndJobTogether(t *testing.T) {
	e := newEnv(t)
	a, b := e.create("a", 1), e.create("b", 1)
	ja, jb := e.jobOf(a), e.jobOf(b)
	for _, suffix := range []string{"/errors", "/checkpoints", "/checkpoints/1/operator_checkpoint_groups", "/operator_metric_groups", "/output"} {
		for _, path := range []string{
			"/api/v1/pipelines/" + a.ID + "/jobs/" + jb.ID + suffix, // someone else's job
			"/api/v1/pipelines/pl_nope/jobs/" + ja.ID + suffix,
			"/api/v1/pipelines/" + a.ID + "/jobs/job_nope" + suffix,
		} {
			r := e.req(http.MethodGet, path, "")
			if r.status != 404 || r.errMsg(t) != "Job not found" {
				t.Errorf("GET %s: %d %s", path, r.status, r.body)
			}
		}
	}
}

func TestJobErrors(t *testing.T) {
	e := newEnv(t)
	p := e.create("p", 1)
	j := e.jobOf(p)
	ctx := context.Background()
	base := time.Date(2026, 12, 2, 0, 0, 0, 0, time.UTC)
	var want []string // newest first
	for i := range 12 {
		level := store.LevelError
		if i%4 == 3 {
			level = store.LevelWarn // must not show up
		}
		m := store.LogMessage{
			OrgID: store.DefaultOrg, ID: store.NewID("jlm"), JobID: j.ID, CreatedAt: base.Add(time.Duration(i) * time.Second),
			OperatorID: ptr("value_project_2"), TaskIndex: ptr(i % 3), Level: level,
			Message: fmt.Sprintf("message %d", i), Details: "details", Domain: ptr(store.DomainUser),
		}
		if i == 0 {
			m.OperatorID, m.TaskIndex, m.Domain = nil, nil, nil
		}
		if err := e.store.AddLogMessage(ctx, m); err != nil {
			t.Fatal(err)
		}
		if level == store.LevelError {
			want = append([]string{m.ID}, want...)
		}
	}
	path := "/api/v1/pipelines/" + p.ID + "/jobs/" + j.ID + "/errors"
	var first PaginatedCollection[JobLogMessage]
	e.must(http.StatusOK, http.MethodGet, path+"?limit=5", "", &first)
	if len(first.Data) != 5 || !first.HasMore {
		t.Fatalf("first page: %d, hasMore %v", len(first.Data), first.HasMore)
	}
	m := first.Data[0]
	if m.Level != "error" || m.Message != "message 10" || *m.OperatorID != "value_project_2" || *m.TaskIndex != 1 || *m.ErrorDomain != "user" {
		t.Errorf("newest message %+v", m)
	}
	if m.CreatedAt != base.Add(10*time.Second).UnixMicro() {
		t.Errorf("created_at %d", m.CreatedAt)
	}
	var second PaginatedCollection[JobLogMessage]
	e.must(http.StatusOK, http.MethodGet, path+"?limit=5&starting_after="+first.Data[4].ID, "", &second)
	if len(second.Data) != 4 || second.HasMore {
		t.Fatalf("second page: %d, hasMore %v", len(second.Data), second.HasMore)
	}
	var got []string
	for _, m := range append(first.Data, second.Data...) {
		got = append(got, m.ID)
		if m.Level != "error" {
			t.Errorf("non-error message listed: %+v", m)
		}
	}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("order\n got %v\nwant %v", got, want)
	}
	last := second.Data[3]
	if last.OperatorID != nil || last.TaskIndex != nil || last.ErrorDomain != nil {
		t.Errorf("nullable fields of the oldest message: %+v", last)
	}
	if r := e.req(http.MethodGet, path+"?limit=0", ""); r.status != 400 || r.errMsg(t) != "Limit must be greater than 0" {
		t.Errorf("limit=0: %d %s", r.status, r.body)
	}
}

func TestCheckpoints(t *testing.T) {
	e := newEnv(t)
	p := e.create("p", 1)
	j := e.jobOf(p)
	ctx := context.Background()
	t0 := time.Date(2026, 12, 2, 0, 0, 0, 0, time.UTC)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	task := func(idx int, bytes int64, finish *time.Time, events ...store.TaskEvent) store.TaskCheckpoint {
		return store.TaskCheckpoint{SubtaskIndex: idx, StartTime: at(0), FinishTime: finish, Bytes: &bytes, Events: events}
	}
	ev := func(typ store.TaskEventType, ms int) store.TaskEvent { return store.TaskEvent{Type: typ, Time: at(ms)} }
	cps := []store.Checkpoint{
		{OrgID: store.DefaultOrg, ID: store.NewID("chk"), JobID: j.ID, Epoch: 2, Backend: "parquet", State: store.CheckpointInProgress,
			StartTime: at(5000), Events: []store.CheckpointEvent{{Event: "Checkpointing", StartTime: at(5000)}}},
		{OrgID: store.DefaultOrg, ID: store.NewID("chk"), JobID: j.ID, Epoch: 1, Backend: "parquet", State: store.CheckpointReady,
			Stopping: true, StartTime: at(0), FinishTime: ptr(at(100)),
			Events: []store.CheckpointEvent{
				{Event: "Checkpointing", StartTime: at(0), FinishTime: ptr(at(100))},
				{Event: "WritingMetadata", StartTime: at(90), FinishTime: ptr(at(100))},
			},
			Operators: []store.OperatorCheckpoint{
				{OperatorID: "sink_3", StartTime: at(0), FinishTime: ptr(at(80)), HasState: true, Tasks: []store.TaskCheckpoint{
					task(1, 10, ptr(at(60)), ev(store.EventCheckpointStarted, 10), ev(store.EventSyncFinished, 20)),
					// Complete: every span.
					task(0, 20, ptr(at(50)),
						ev(store.EventAlignmentStarted, 1), ev(store.EventCheckpointStarted, 5), ev(store.EventCheckpointStarted, 7),
						ev(store.EventOperatorSetup, 6), ev(store.EventSyncFinished, 30), ev(store.EventPreCommit, 70)),
				}},
				{OperatorID: "source_1", StartTime: at(0), StartedMetadataWrite: ptr(at(85)), Tasks: []store.TaskCheckpoint{
					// Unfinished: no Async, no Committing.
					task(0, 0, nil, ev(store.EventCheckpointStarted, 2), ev(store.EventSyncFinished, 4)),
				}},
			}},
		{OrgID: store.DefaultOrg, ID: store.NewID("chk"), JobID: j.ID, Epoch: 3, Backend: "parquet", State: store.CheckpointFailed, StartTime: at(9000)},
	}
	for _, c := range cps {
		if err := e.store.PutCheckpoint(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	base := "/api/v1/pipelines/" + p.ID + "/jobs/" + j.ID + "/checkpoints"
	var list Collection[Checkpoint]
	e.must(http.StatusOK, http.MethodGet, base, "", &list)
	if len(list.Data) != 2 || list.Data[0].Epoch != 1 || list.Data[1].Epoch != 2 {
		t.Fatalf("checkpoints %+v", list.Data)
	}
	c1, c2 := list.Data[0], list.Data[1]
	if c1.CheckpointType != "stopping" || c1.Backend != "parquet" || *c1.FinishTime != at(100).UnixMicro() || c1.StartTime != at(0).UnixMicro() {
		t.Errorf("epoch 1 %+v", c1)
	}
	if len(c1.Events) != 2 || c1.Events[1].Event != "WritingMetadata" || c1.Events[1].Description != "Writing the final checkpoint metadata" {
		t.Errorf("epoch 1 events %+v", c1.Events)
	}
	if c2.CheckpointType != "scheduled" || c2.FinishTime != nil || c2.Events[0].FinishTime != 0 {
		t.Errorf("epoch 2 (in progress) %+v", c2)
	}

	var groups Collection[OperatorCheckpointGroup]
	e.must(http.StatusOK, http.MethodGet, base+"/1/operator_checkpoint_groups", "", &groups)
	if len(groups.Data) != 2 || groups.Data[0].OperatorID != "sink_3" || groups.Data[1].OperatorID != "source_1" {
		t.Fatalf("operators not sorted: %+v", groups.Data)
	}
	sink := groups.Data[0]
	if sink.Bytes != 30 || *sink.FinishTime != at(80).UnixMicro() || sink.StartedMetadataWrite != nil {
		t.Errorf("sink group %+v", sink)
	}
	if sink.Subtasks[0].Index != 0 || sink.Subtasks[1].Index != 1 {
		t.Errorf("subtasks not sorted: %+v", sink.Subtasks)
	}
	type span struct {
		event         string
		start, finish int
	}
	check := func(name string, got []CheckpointEventSpan, want []span) {
		t.Helper()
		if len(got) != len(want) {
			t.Errorf("%s: spans %+v, want %+v", name, got, want)
			return
		}
		for i, w := range want {
			g := got[i]
			if g.Event != w.event || g.StartTime != at(w.start).UnixMicro() || g.FinishTime != at(w.finish).UnixMicro() || g.Description == "" {
				t.Errorf("%s: span %d = %+v, want %+v", name, i, g, w)
			}
		}
	}
	check("sink/0", sink.Subtasks[0].EventSpans, []span{{"Alignment", 1, 5}, {"Sync", 5, 30}, {"Async", 30, 50}, {"Committing", 50, 70}})
	check("sink/1", sink.Subtasks[1].EventSpans, []span{{"Sync", 10, 20}, {"Async", 20, 60}})
	src := groups.Data[1]
	check("source/0", src.Subtasks[0].EventSpans, []span{{"Sync", 2, 4}})
	if src.Bytes != 0 || *src.StartedMetadataWrite != at(85).UnixMicro() || src.FinishTime != nil {
		t.Errorf("source group %+v", src)
	}

	var empty Collection[OperatorCheckpointGroup]
	e.must(http.StatusOK, http.MethodGet, base+"/2/operator_checkpoint_groups", "", &empty)
	if empty.Data == nil || len(empty.Data) != 0 {
		t.Errorf("epoch 2 groups %+v", empty)
	}

	r := e.req(http.MethodGet, base+"/9/operator_checkpoint_groups", "")
	if want := fmt.Sprintf("Checkpoint with epoch 9 for job '%s' not found", j.ID); r.status != 404 || r.errMsg(t) != want {
		t.Errorf("missing epoch: %d %s", r.status, r.body)
	}
	for _, bad := range []string{"abc", "-1", "1.5"} {
		if r := e.req(http.MethodGet, base+"/"+bad+"/operator_checkpoint_groups", ""); r.status != 400 {
			t.Errorf("epoch %q: %d %s", bad, r.status, r.body)
		}
	}
}

func TestOperatorMetricGroups(t *testing.T) {
	e := newEnv(t)
	p := e.create("p", 2)
	j := e.jobOf(p)
	path := "/api/v1/pipelines/" + p.ID + "/jobs/" + j.ID + "/operator_metric_groups"

	r := e.must(http.StatusOK, http.MethodGet, path, "", nil)
	if string(r.body) != `{"data":[]}` {
		t.Errorf("metrics of a job the controller does not know: %s", r.body)
	}

	pt := []metrics.Point{{Time: 1_000_000, Value: 2.5}}
	e.ctrl.mu.Lock()
	e.ctrl.metrics[j.ID] = []metrics.OperatorGroup{
		{NodeID: 3, MetricGroups: []metrics.Group{{Name: metrics.BytesRecv, Subtasks: []metrics.SubtaskMetrics{{Index: 1, Metrics: pt}, {Index: 0, Metrics: pt}}}}},
		{NodeID: 1, MetricGroups: []metrics.Group{
			{Name: metrics.MessagesSent, Subtasks: []metrics.SubtaskMetrics{{Index: 0, Metrics: pt}}},
			{Name: metrics.Backpressure, Subtasks: []metrics.SubtaskMetrics{{Index: 0}}},
		}},
	}
	e.ctrl.mu.Unlock()
	var got Collection[metrics.OperatorGroup]
	e.must(http.StatusOK, http.MethodGet, path, "", &got)
	if len(got.Data) != 2 || got.Data[0].NodeID != 1 || got.Data[1].NodeID != 3 {
		t.Fatalf("groups not sorted by node: %+v", got.Data)
	}
	if got.Data[0].MetricGroups[0].Name != metrics.Backpressure || got.Data[0].MetricGroups[0].Subtasks[0].Metrics == nil {
		t.Errorf("node 1 groups %+v", got.Data[0].MetricGroups)
	}
	if st := got.Data[1].MetricGroups[0].Subtasks; st[0].Index != 0 || st[1].Index != 1 || st[0].Metrics[0].Value != 2.5 {
		t.Errorf("node 3 subtasks %+v", st)
	}
}

func TestNoController(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.Controller = nil })
	var p Pipeline
	e.must(http.StatusOK, http.MethodPost, "/api/v1/pipelines/preview", `{"query":"SELECT 1"}`, &p)
	j := e.jobOf(p)
	base := "/api/v1/pipelines/" + p.ID + "/jobs/" + j.ID
	if r := e.must(http.StatusOK, http.MethodGet, base+"/operator_metric_groups", "", nil); string(r.body) != `{"data":[]}` {
		t.Errorf("metrics without controller: %s", r.body)
	}
	if r := e.req(http.MethodGet, base+"/output", ""); r.status != 503 || r.errMsg(t) != "controller-service not available" {
		t.Errorf("output without controller: %d %s", r.status, r.body)
	}
}

func TestNoPlanner(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.Planner = nil })
	before := e.snapshot()
	for _, c := range []struct{ path, body string }{
		{"/api/v1/pipelines", `{"name":"a","query":"SELECT 1","parallelism":1}`},
		{"/api/v1/pipelines/preview", `{"query":"SELECT 1"}`},
		{"/api/v1/pipelines/validate_query", `{"query":"SELECT 1"}`},
	} {
		if r := e.req(http.MethodPost, c.path, c.body); r.status != 503 || r.errMsg(t) != "compiler-service not available" {
			t.Errorf("POST %s without a planner: %d %s", c.path, r.status, r.body)
		}
	}
	if e.snapshot() != before {
		t.Error("store changed")
	}
}
