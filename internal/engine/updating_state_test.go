package engine

import (
	"context"
	"testing"
)

func updStateConfig() UpdatingAggConfig {
	return UpdatingAggConfig{Keys: []int{0}, Retract: -1,
		Aggs: []AggSpec{{Kind: AggCountStar}, {Kind: AggSum, Arg: 1}, {Kind: AggAvg, Arg: 1}, {Kind: AggMax, Arg: 1}, {Kind: AggCountDistinct, Arg: 1}},
		Out:  updOut(i64("n"), i64("s"), f64("a"), i64("hi"), i64("d"))}
}

// A restored aggregate carries on exactly as the original: same results,
// and it retracts the rows the original emitted before the checkpoint.
func TestUpdatingAggSnapshotRestore(t *testing.T) {
	ctx := context.Background()
	orig := newUpd(t, updStateConfig())
	feed(t, orig, &changes{}, updBatch("a", 1, false, "b", 2, false, "a", 3, false, "c", 7, false))
	schema, recs, err := orig.(Snapshotter).Snapshot(ctx, 1)
	if err != nil || schema == nil || len(recs) != 1 || recs[0].NumRows() != 3 {
		t.Fatalf("snapshot: %v %v %v", schema, recs, err)
	}
	defer func() {
		for _, r := range recs {
			r.Release()
		}
	}()
	if schema.Field(0).Name != KeyHashColumn {
		t.Fatalf("keyed state must lead with %s: %s", KeyHashColumn, schema)
	}
	restored := newUpd(t, updStateConfig())
	if err := restored.(Restorer).Restore(ctx, RestoredState{Epoch: 1, Parallelism: 1, Parts: []StatePart{{Batches: recs}}}); err != nil {
		t.Fatal(err)
	}
	want, got := &changes{}, &changes{}
	feed(t, orig, want, updBatch("a", 3, false, "b", 9, false, "d", 1, false))
	feed(t, restored, got, updBatch("a", 3, false, "b", 9, false, "d", 1, false))
	if w := want.take(); got.take() != w || w == "" {
		t.Fatalf("restored output differs:\n got %v\nwant %s", got.rows, w)
	}

	// Rescaled to two subtasks, each keeps the groups whose keys it owns.
	total := 0
	for sub := range 2 {
		own, err := ownRows(ctx, recs, sub, 2)
		if err != nil {
			t.Fatal(err)
		}
		op := newUpd(t, updStateConfig())
		if err := op.(Restorer).Restore(ctx, RestoredState{Epoch: 1, Parallelism: 1, Parts: []StatePart{{Batches: own}}}); err != nil {
			t.Fatal(err)
		}
		n := op.(*updatingAgg).groups.Len()
		total += n
		for _, b := range own {
			b.Release()
		}
		// Each group lives where the shuffle sends its key.
		op.(*updatingAgg).groups.Range(func(_ string, g *updGroup) bool {
			b := updBatch(g.key[0].(string), 0, false)
			defer b.Release()
			h := make([]uint64, 1)
			if err := HashColumns(b, []int{0}, h); err != nil {
				t.Fatal(err)
			}
			if KeyOwner(h[0], 2) != sub {
				t.Errorf("key %v restored on subtask %d, owned by %d", g.key[0], sub, KeyOwner(h[0], 2))
			}
			return true
		})
	}
	if total != 3 {
		t.Fatalf("%d groups after rescaling, want 3", total)
	}
}

// Multisets (min, max, count(DISTINCT) over an updating input) survive a
// checkpoint: retracting the maximum after restoring brings back the next.
func TestUpdatingAggSnapshotMultisets(t *testing.T) {
	ctx := context.Background()
	cfg := UpdatingAggConfig{Keys: []int{0}, Retract: 2,
		Aggs: []AggSpec{{Kind: AggMax, Arg: 1}, {Kind: AggCountDistinct, Arg: 1}},
		Out:  updOut(i64("hi"), i64("d"))}
	orig := newUpd(t, cfg)
	feed(t, orig, &changes{}, updBatch("a", 4, false, "a", 8, false, "a", 8, false))
	_, recs, err := orig.(Snapshotter).Snapshot(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	restored := newUpd(t, cfg)
	if err := restored.(Restorer).Restore(ctx, RestoredState{Epoch: 1, Parallelism: 1, Parts: []StatePart{{Batches: recs}}}); err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		r.Release()
	}
	out := &changes{}
	feed(t, restored, out, updBatch("a", 8, true, "a", 8, true))
	if got, want := out.take(), "-a 8 2|+a 4 1"; got != want {
		t.Fatalf("got %s, want %s", got, want)
	}
}

func TestUpdatingAggEmptySnapshot(t *testing.T) {
	op := newUpd(t, updStateConfig())
	schema, recs, err := op.(Snapshotter).Snapshot(context.Background(), 1)
	if schema != nil || recs != nil || err != nil {
		t.Fatalf("empty state: %v %v %v", schema, recs, err)
	}
}
