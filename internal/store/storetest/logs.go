package storetest

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/runnel-dev/runnel/internal/store"
)

func testLogMessages(t *testing.T, s store.Store) {
	ctx := t.Context()
	p := mustCreate(t, s, newPipeline("a", base))
	q := mustCreate(t, s, newPipeline("a", base))

	var errs []store.LogMessage
	add := func(m store.LogMessage) store.LogMessage {
		t.Helper()
		if err := s.AddLogMessage(ctx, m); err != nil {
			t.Fatalf("AddLogMessage: %v", err)
		}
		return m
	}
	dom := store.DomainExternal
	for i := range 5 {
		at := base.Add(time.Duration(i) * time.Second)
		if i == 4 {
			at = base.Add(3 * time.Second) // a tie, broken by id
		}
		m := store.LogMessage{OrgID: "a", ID: store.NewID("jlm"), JobID: p.Job.ID, CreatedAt: at, Level: store.LevelError, Message: "task failed", Details: "stack trace"}
		if i%2 == 0 {
			m.OperatorID, m.TaskIndex, m.Domain = ptr("value_3"), ptr(i), &dom
		}
		errs = append(errs, add(m))
	}
	add(store.LogMessage{OrgID: "a", ID: store.NewID("jlm"), JobID: p.Job.ID, CreatedAt: base.Add(time.Hour), Level: store.LevelWarn, Message: "slow client"})
	add(store.LogMessage{OrgID: "a", ID: store.NewID("jlm"), JobID: p.Job.ID, CreatedAt: base.Add(time.Hour), Level: store.LevelInfo, Message: "started", TaskIndex: ptr(0)})
	add(store.LogMessage{OrgID: "a", ID: store.NewID("jlm"), JobID: q.Job.ID, CreatedAt: base.Add(time.Hour), Level: store.LevelError, Message: "other job"})

	want := make([]store.LogMessage, len(errs))
	for i, m := range errs {
		m.CreatedAt = us(m.CreatedAt)
		want[i] = m
	}
	slices.SortFunc(want, func(x, y store.LogMessage) int {
		if c := y.CreatedAt.Compare(x.CreatedAt); c != 0 {
			return c
		}
		return strings.Compare(y.ID, x.ID)
	})

	all, more, err := s.ListLogMessages(ctx, "a", p.Job.ID, store.LevelError, store.Page{Limit: 10})
	if err != nil || more {
		t.Fatalf("ListLogMessages(error): more %v, err %v", more, err)
	}
	if d := diff(want, all); d != "" {
		t.Errorf("error messages, newest first, only this job's (-want +got):\n%s", d)
	}

	var paged []store.LogMessage
	after := ""
	for page := 0; page < 3; page++ {
		ms, more, err := s.ListLogMessages(ctx, "a", p.Job.ID, store.LevelError, store.Page{StartingAfter: after, Limit: 2})
		if err != nil {
			t.Fatalf("page %d: %v", page, err)
		}
		if wantMore := page < 2; more != wantMore {
			t.Errorf("page %d: hasMore %v, want %v", page, more, wantMore)
		}
		paged = append(paged, ms...)
		if !more {
			break
		}
		after = ms[len(ms)-1].ID
	}
	if d := diff(want, paged); d != "" {
		t.Errorf("paged error messages (-want +got):\n%s", d)
	}

	for level, msg := range map[store.LogLevel]string{store.LevelWarn: "slow client", store.LevelInfo: "started"} {
		ms, _, err := s.ListLogMessages(ctx, "a", p.Job.ID, level, store.Page{})
		if err != nil || len(ms) != 1 || ms[0].Message != msg || ms[0].Level != level {
			t.Errorf("ListLogMessages(%s) = %+v, %v; want the one %q", level, ms, err, msg)
		}
	}
	if ms, _, err := s.ListLogMessages(ctx, "a", p.Job.ID, store.LevelInfo, store.Page{}); err == nil && len(ms) == 1 {
		if ms[0].OperatorID != nil || ms[0].Domain != nil || ms[0].TaskIndex == nil || *ms[0].TaskIndex != 0 {
			t.Errorf("nullable fields of the info message: %+v", ms[0])
		}
	}

	_, _, err = s.ListLogMessages(ctx, "a", p.Job.ID, store.LevelError, store.Page{StartingAfter: store.NewID("jlm")})
	wantErr(t, "ListLogMessages(unknown cursor)", err, store.ErrNotFound)
	_, _, err = s.ListLogMessages(ctx, "a", store.NewID("job"), store.LevelError, store.Page{})
	wantErr(t, "ListLogMessages(unknown job)", err, store.ErrNotFound)
	wantErr(t, "AddLogMessage(unknown job)", s.AddLogMessage(ctx, store.LogMessage{OrgID: "a", ID: store.NewID("jlm"), JobID: store.NewID("job"), CreatedAt: base, Level: store.LevelError}), store.ErrNotFound)
	dup := errs[0]
	dup.Message = "again"
	wantErr(t, "AddLogMessage(duplicate id)", s.AddLogMessage(ctx, dup), store.ErrDuplicate)
	if ms, _, err := s.ListLogMessages(ctx, "a", p.Job.ID, store.LevelError, store.Page{Limit: 10}); err != nil || len(ms) != len(errs) {
		t.Errorf("after duplicate: %d messages, %v; want %d", len(ms), err, len(errs))
	}
}
