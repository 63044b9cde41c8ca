package storetest

import (
	"testing"
	"time"

	"github.com/runnel-dev/runnel/internal/store"
)

func testCheckpoints(t *testing.T, s store.Store) {
	ctx := t.Context()
	p := mustCreate(t, s, newPipeline("a", base))
	q := mustCreate(t, s, newPipeline("a", base))

	at := func(d time.Duration) time.Time { return base.Add(d) }
	finished := at(3*time.Second + 7)
	bytes := int64(4096)
	full := store.Checkpoint{
		OrgID: "a", ID: store.NewID("chk"), JobID: p.Job.ID, Epoch: 2, Backend: "parquet",
		State: store.CheckpointReady, Stopping: true, StartTime: at(time.Second), FinishTime: &finished,
		Events: []store.CheckpointEvent{
			{Event: "Checkpointing", StartTime: at(time.Second), FinishTime: &finished},
			{Event: "WritingMetadata", StartTime: at(2 * time.Second)},
		},
		Operators: []store.OperatorCheckpoint{{
			OperatorID: "value_project_3", StartTime: at(time.Second), FinishTime: &finished,
			StartedMetadataWrite: &finished, HasState: true,
			Tasks: []store.TaskCheckpoint{
				{SubtaskIndex: 0, StartTime: at(time.Second), FinishTime: &finished, Bytes: &bytes, Events: []store.TaskEvent{
					{Type: store.EventAlignmentStarted, Time: at(time.Second + 1)},
					{Type: store.EventCheckpointStarted, Time: at(time.Second + 2)},
					{Type: store.EventSyncFinished, Time: at(time.Second + 3)},
				}},
				{SubtaskIndex: 1, StartTime: at(time.Second), Events: []store.TaskEvent{}},
			},
		}, {OperatorID: "source_1", StartTime: at(time.Second)}},
	}
	put := func(c store.Checkpoint) {
		t.Helper()
		if err := s.PutCheckpoint(ctx, c); err != nil {
			t.Fatalf("PutCheckpoint(epoch %d): %v", c.Epoch, err)
		}
	}
	simple := func(epoch int64, state store.CheckpointState) store.Checkpoint {
		return store.Checkpoint{OrgID: "a", ID: store.NewID("chk"), JobID: p.Job.ID, Epoch: epoch, Backend: "parquet", State: state, StartTime: at(time.Duration(epoch) * time.Second)}
	}
	// Out of order, every state.
	put(simple(6, store.CheckpointInProgress))
	put(simple(3, store.CheckpointFailed))
	put(simple(1, store.CheckpointCompacted))
	put(simple(4, store.CheckpointCommitting))
	put(full)
	put(simple(5, store.CheckpointCompacting))
	put(store.Checkpoint{OrgID: "a", ID: store.NewID("chk"), JobID: q.Job.ID, Epoch: 2, Backend: "parquet", State: store.CheckpointReady, StartTime: base})

	got, err := s.GetCheckpoint(ctx, "a", p.Job.ID, 2)
	if err != nil {
		t.Fatalf("GetCheckpoint: %v", err)
	}
	if d := diff(stored(full), got); d != "" {
		t.Errorf("checkpoint round trip (-want +got):\n%s", d)
	}

	list, err := s.ListCheckpoints(ctx, "a", p.Job.ID)
	if err != nil {
		t.Fatalf("ListCheckpoints: %v", err)
	}
	var epochs []int64
	for _, c := range list {
		epochs = append(epochs, c.Epoch)
		if c.JobID != p.Job.ID {
			t.Errorf("listed checkpoint of job %s", c.JobID)
		}
	}
	if d := diff([]int64{2, 4, 5, 6}, epochs); d != "" {
		t.Errorf("listed epochs: no failed or compacted, ascending (-want +got):\n%s", d)
	}
	if d := diff(stored(full), list[0]); d != "" {
		t.Errorf("listed checkpoint (-want +got):\n%s", d)
	}

	// Failed and compacted checkpoints are still found by epoch.
	if c, err := s.GetCheckpoint(ctx, "a", p.Job.ID, 3); err != nil || c.State != store.CheckpointFailed {
		t.Errorf("GetCheckpoint(failed) = %v, %v", c.State, err)
	}

	// Put on an existing epoch replaces the record.
	fin := at(7 * time.Second)
	upd := simple(6, store.CheckpointReady)
	upd.FinishTime = &fin
	upd.Stopping = true
	upd.Backend = "other"
	upd.Events = []store.CheckpointEvent{{Event: "Checkpointing", StartTime: at(6 * time.Second), FinishTime: &fin}}
	put(upd)
	got, err = s.GetCheckpoint(ctx, "a", p.Job.ID, 6)
	if err != nil {
		t.Fatalf("GetCheckpoint after upsert: %v", err)
	}
	if d := diff(stored(upd), got); d != "" {
		t.Errorf("upserted checkpoint (-want +got):\n%s", d)
	}
	// Replacing with fewer details clears them.
	put(simple(2, store.CheckpointReady))
	if got, err := s.GetCheckpoint(ctx, "a", p.Job.ID, 2); err != nil || got.Events != nil || got.Operators != nil || got.FinishTime != nil {
		t.Errorf("replaced checkpoint kept old details: %+v, %v", got, err)
	}
	if list, err := s.ListCheckpoints(ctx, "a", p.Job.ID); err != nil || len(list) != 4 {
		t.Errorf("upserts must not add rows: %d listed, %v", len(list), err)
	}

	_, err = s.GetCheckpoint(ctx, "a", p.Job.ID, 99)
	wantErr(t, "GetCheckpoint(unknown epoch)", err, store.ErrNotFound)
	_, err = s.ListCheckpoints(ctx, "a", store.NewID("job"))
	wantErr(t, "ListCheckpoints(unknown job)", err, store.ErrNotFound)
	bad := simple(1, store.CheckpointReady)
	bad.JobID = store.NewID("job")
	wantErr(t, "PutCheckpoint(unknown job)", s.PutCheckpoint(ctx, bad), store.ErrNotFound)
}

// stored is c with every time as the store returns times.
func stored(c store.Checkpoint) store.Checkpoint {
	norm := func(p *time.Time) *time.Time {
		if p == nil {
			return nil
		}
		return usPtr(*p)
	}
	w := c
	w.StartTime = us(c.StartTime)
	w.FinishTime = norm(c.FinishTime)
	if c.Events != nil {
		w.Events = make([]store.CheckpointEvent, len(c.Events))
		for i, e := range c.Events {
			w.Events[i] = store.CheckpointEvent{Event: e.Event, StartTime: us(e.StartTime), FinishTime: norm(e.FinishTime)}
		}
	}
	if c.Operators != nil {
		w.Operators = make([]store.OperatorCheckpoint, len(c.Operators))
		for i, o := range c.Operators {
			no := o
			no.StartTime, no.FinishTime, no.StartedMetadataWrite = us(o.StartTime), norm(o.FinishTime), norm(o.StartedMetadataWrite)
			if o.Tasks != nil {
				no.Tasks = make([]store.TaskCheckpoint, len(o.Tasks))
				for j, tk := range o.Tasks {
					nt := tk
					nt.StartTime, nt.FinishTime = us(tk.StartTime), norm(tk.FinishTime)
					if tk.Events != nil {
						nt.Events = make([]store.TaskEvent, len(tk.Events))
						for k, e := range tk.Events {
							nt.Events[k] = store.TaskEvent{Type: e.Type, Time: us(e.Time)}
						}
					}
					no.Tasks[j] = nt
				}
			}
			w.Operators[i] = no
		}
	}
	return w
}
