package controller

import (
	"context"
	"errors"
	"testing"

	"github.com/runnel-dev/runnel/internal/lifecycle"
	"github.com/runnel-dev/runnel/internal/output"
	"github.com/runnel-dev/runnel/internal/store"
)

func TestTransitionTable(t *testing.T) {
	L := lifecycle.States
	want := map[[2]lifecycle.State]bool{}
	allow := func(from lifecycle.State, to ...lifecycle.State) {
		for _, s := range to {
			want[[2]lifecycle.State{from, s}] = true
		}
	}
	// The reachable lifecycle, written out independently of the table.
	allow(lifecycle.Created, lifecycle.Compiling, lifecycle.Failing)
	allow(lifecycle.Compiling, lifecycle.Scheduling, lifecycle.Failing)
	allow(lifecycle.Scheduling, lifecycle.Running, lifecycle.Stopping, lifecycle.Recovering, lifecycle.Failing)
	allow(lifecycle.Running, lifecycle.Rescaling, lifecycle.CheckpointStopping, lifecycle.Recovering,
		lifecycle.Restarting, lifecycle.Stopping, lifecycle.Finishing, lifecycle.Failing)
	allow(lifecycle.Rescaling, lifecycle.Scheduling, lifecycle.Stopping, lifecycle.Recovering, lifecycle.Failing)
	allow(lifecycle.CheckpointStopping, lifecycle.Stopped, lifecycle.Stopping, lifecycle.Recovering, lifecycle.Failing)
	allow(lifecycle.Recovering, lifecycle.Compiling, lifecycle.Stopping, lifecycle.Failing)
	allow(lifecycle.Restarting, lifecycle.Scheduling, lifecycle.Stopping, lifecycle.Recovering, lifecycle.Failing)
	allow(lifecycle.Stopping, lifecycle.Stopped, lifecycle.Failing)
	allow(lifecycle.Stopped, lifecycle.Compiling)
	allow(lifecycle.Finishing, lifecycle.Finished, lifecycle.Failing)
	allow(lifecycle.Failing, lifecycle.Failed)
	allow(lifecycle.Failed, lifecycle.Compiling)

	legalCount := 0
	for _, from := range L {
		for _, to := range L {
			w := want[[2]lifecycle.State{from, to}]
			if Legal(from, to) != w {
				t.Errorf("Legal(%s, %s) = %v, want %v", from, to, !w, w)
			}
			if w {
				legalCount++
			}
		}
	}
	if legalCount != len(want) {
		t.Fatalf("expected transitions reference unknown states")
	}
	// Every state but Finished can move on; every state is reachable.
	reached := map[lifecycle.State]bool{lifecycle.Created: true}
	for k := range want {
		reached[k[1]] = true
	}
	for _, s := range L {
		if !reached[s] {
			t.Errorf("state %s is unreachable", s)
		}
	}
}

func TestResumeState(t *testing.T) {
	cases := map[lifecycle.State]lifecycle.State{
		lifecycle.Created: lifecycle.Created, lifecycle.Compiling: lifecycle.Compiling,
		lifecycle.Scheduling: lifecycle.Compiling, lifecycle.Running: lifecycle.Compiling,
		lifecycle.Rescaling: lifecycle.Compiling, lifecycle.Recovering: lifecycle.Compiling,
		lifecycle.Restarting: lifecycle.Compiling, lifecycle.CheckpointStopping: lifecycle.Stopped,
		lifecycle.Stopping: lifecycle.Stopped, lifecycle.Stopped: lifecycle.Stopped,
		lifecycle.Finishing: lifecycle.Finished, lifecycle.Finished: lifecycle.Finished,
		lifecycle.Failing: lifecycle.Failed, lifecycle.Failed: lifecycle.Failed,
	}
	if len(cases) != 14 {
		t.Fatal("cover all 14 states")
	}
	for from, want := range cases {
		if got := resumeState(from); got != want {
			t.Errorf("resumeState(%s) = %s, want %s", from, got, want)
		}
	}
}

// recordingStore records status writes; everything else is unused by
// advance.
type recordingStore struct {
	store.Store
	writes []lifecycle.State
}

func (s *recordingStore) UpdateJobStatus(_ context.Context, _ string, st store.JobStatus) error {
	s.writes = append(s.writes, st.State)
	return nil
}

func TestAdvanceRefusesIllegalTransitions(t *testing.T) {
	for _, from := range lifecycle.States {
		for _, to := range lifecycle.States {
			rs := &recordingStore{}
			c, err := New(Config{Store: rs, Runner: nopRunner{}, Hub: output.NewHub(1)})
			if err != nil {
				t.Fatal(err)
			}
			p := store.Pipeline{ID: "pl_x", Job: store.Job{ID: "job_x", Status: store.JobStatus{State: from}}}
			m := newMachine(c, p)
			err = m.advance(context.Background(), to)
			if Legal(from, to) {
				if err != nil || m.state() != to || len(rs.writes) != 1 || rs.writes[0] != to {
					t.Errorf("%s → %s: err %v, state %s, writes %v", from, to, err, m.state(), rs.writes)
				}
				continue
			}
			var illegal *IllegalTransitionError
			if !errors.As(err, &illegal) {
				t.Errorf("%s → %s: err %v, want IllegalTransitionError", from, to, err)
			}
			if m.state() != from || len(rs.writes) != 0 {
				t.Errorf("%s → %s: illegal transition changed state to %s / wrote %v", from, to, m.state(), rs.writes)
			}
		}
	}
}
