package engine

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"sync"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/runnel-dev/runnel/internal/state"
)

var kvSchema = arrow.NewSchema([]arrow.Field{
	{Name: "n", Type: arrow.PrimitiveTypes.Int64},
	{Name: "k", Type: arrow.PrimitiveTypes.Int64},
}, nil)

var offsetSchema = arrow.NewSchema([]arrow.Field{{Name: "next", Type: arrow.PrimitiveTypes.Int64}}, nil)

// gatedSource emits n = sub, sub+par, … below rows in batches of 10, with
// k = n % 7, and waits at gate (if set) before emitting n ≥ gateAt. Its
// position is checkpointed, so a restored run goes on from there.
type gatedSource struct {
	rows, sub, par int
	next           int64 // next sequence number (n = next*par + sub)
	gateAt         int
	gate           <-chan struct{}
	reached        chan<- struct{}
}

func (s *gatedSource) Run(ctx context.Context, stop <-chan struct{}, out Collector) error {
	nb := array.NewInt64Builder(memory.DefaultAllocator)
	kb := array.NewInt64Builder(memory.DefaultAllocator)
	defer nb.Release()
	defer kb.Release()
	for {
		select {
		case <-stop:
			return nil
		default:
		}
		n0 := s.next*int64(s.par) + int64(s.sub)
		if n0 >= int64(s.rows) {
			return nil
		}
		if s.gate != nil && n0 >= int64(s.gateAt) {
			if s.reached != nil {
				s.reached <- struct{}{}
				s.reached = nil
			}
			select {
			case <-s.gate:
				s.gate = nil
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		count := int64(0)
		for i := s.next; i < s.next+10; i++ {
			n := i*int64(s.par) + int64(s.sub)
			if n >= int64(s.rows) {
				break
			}
			nb.Append(n)
			kb.Append(n % 7)
			count++
		}
		cols := []arrow.Array{nb.NewArray(), kb.NewArray()}
		b := array.NewRecordBatch(kvSchema, cols, count)
		cols[0].Release()
		cols[1].Release()
		err := out.Collect(ctx, b)
		b.Release()
		if err != nil {
			return err
		}
		s.next += count
	}
}

func (s *gatedSource) Snapshot(context.Context, int64) (*arrow.Schema, []arrow.RecordBatch, error) {
	bld := array.NewInt64Builder(memory.DefaultAllocator)
	defer bld.Release()
	bld.Append(s.next)
	col := bld.NewArray()
	defer col.Release()
	return offsetSchema, []arrow.RecordBatch{array.NewRecordBatch(offsetSchema, []arrow.Array{col}, 1)}, nil
}

func (s *gatedSource) Restore(_ context.Context, st RestoredState) error {
	for _, p := range st.Parts {
		if p.Subtask == s.sub {
			s.next = p.Batches[0].Column(0).(*array.Int64).Value(0)
		}
	}
	return nil
}

var sumStateSchema = arrow.NewSchema([]arrow.Field{
	{Name: KeyHashColumn, Type: arrow.PrimitiveTypes.Uint64},
	{Name: "k", Type: arrow.PrimitiveTypes.Int64},
	{Name: "sum", Type: arrow.PrimitiveTypes.Int64},
	{Name: "count", Type: arrow.PrimitiveTypes.Int64},
}, nil)

var sumOutSchema = arrow.NewSchema(sumStateSchema.Fields()[1:], nil)

// keyedSum sums n per k and emits the sums when its input ends.
type keyedSum struct {
	sub, par int
	sums     map[int64][2]int64
}

func (o *keyedSum) Process(_ context.Context, b arrow.RecordBatch, _ Collector) error {
	ns, ks := b.Column(0).(*array.Int64), b.Column(1).(*array.Int64)
	for i := 0; i < int(b.NumRows()); i++ {
		k := ks.Value(i)
		if h := keyHash(k); KeyOwner(h, o.par) != o.sub {
			return fmt.Errorf("key %d reached subtask %d of %d", k, o.sub, o.par)
		}
		v := o.sums[k]
		o.sums[k] = [2]int64{v[0] + ns.Value(i), v[1] + 1}
	}
	return nil
}

func (o *keyedSum) Finish(ctx context.Context, out Collector) error {
	b := o.batch(sumOutSchema, false)
	defer b.Release()
	return out.Collect(ctx, b)
}

func (o *keyedSum) batch(schema *arrow.Schema, withHash bool) arrow.RecordBatch {
	bld := array.NewRecordBuilder(memory.DefaultAllocator, schema)
	defer bld.Release()
	c := 0
	if withHash {
		c = 1
	}
	for k, v := range o.sums {
		if withHash {
			bld.Field(0).(*array.Uint64Builder).Append(keyHash(k))
		}
		bld.Field(c).(*array.Int64Builder).Append(k)
		bld.Field(c + 1).(*array.Int64Builder).Append(v[0])
		bld.Field(c + 2).(*array.Int64Builder).Append(v[1])
	}
	return bld.NewRecordBatch()
}

func (o *keyedSum) Snapshot(context.Context, int64) (*arrow.Schema, []arrow.RecordBatch, error) {
	return sumStateSchema, []arrow.RecordBatch{o.batch(sumStateSchema, true)}, nil
}

func (o *keyedSum) Restore(_ context.Context, st RestoredState) error {
	for _, p := range st.Parts {
		for _, b := range p.Batches {
			k, s, c := b.Column(1).(*array.Int64), b.Column(2).(*array.Int64), b.Column(3).(*array.Int64)
			for i := 0; i < int(b.NumRows()); i++ {
				if KeyOwner(b.Column(0).(*array.Uint64).Value(i), o.par) != o.sub {
					return fmt.Errorf("restored key %d does not belong to subtask %d", k.Value(i), o.sub)
				}
				o.sums[k.Value(i)] = [2]int64{s.Value(i), c.Value(i)}
			}
		}
	}
	return nil
}

// keyHash hashes one int64 key the way the shuffle does.
func keyHash(k int64) uint64 {
	bld := array.NewInt64Builder(memory.DefaultAllocator)
	defer bld.Release()
	bld.Append(k)
	col := bld.NewArray()
	defer col.Release()
	b := array.NewRecordBatch(arrow.NewSchema([]arrow.Field{{Name: "k", Type: arrow.PrimitiveTypes.Int64}}, nil), []arrow.Array{col}, 1)
	defer b.Release()
	h := make([]uint64, 1)
	if err := HashColumns(b, []int{0}, h); err != nil {
		panic(err)
	}
	return h[0]
}

// sumResults collects the final sums.
type sumResults struct {
	mu   sync.Mutex
	sums map[int64][2]int64
}

func (r *sumResults) op() funcOp {
	return funcOp{process: func(_ context.Context, b arrow.RecordBatch, _ Collector) error {
		r.mu.Lock()
		defer r.mu.Unlock()
		k, s, c := b.Column(0).(*array.Int64), b.Column(1).(*array.Int64), b.Column(2).(*array.Int64)
		for i := 0; i < int(b.NumRows()); i++ {
			if _, dup := r.sums[k.Value(i)]; dup {
				return fmt.Errorf("key %d emitted twice", k.Value(i))
			}
			r.sums[k.Value(i)] = [2]int64{s.Value(i), c.Value(i)}
		}
		return nil
	}}
}

type sumRun struct {
	rows, srcPar, sumPar int
	gateAt               int
	gate                 <-chan struct{}
	reached              chan struct{}
	out                  *sumResults
}

func (r sumRun) program(t *testing.T) *Program {
	t.Helper()
	reached := r.reached
	p, err := NewProgram([]*Node{
		{ID: 1, Parallelism: r.srcPar, Chain: []OperatorSpec{{ID: "src", Kind: KindSource, Name: "gated",
			NewSource: func(info TaskInfo) (Source, error) {
				s := &gatedSource{rows: r.rows, sub: info.Subtask, par: info.Parallelism, gateAt: r.gateAt, gate: r.gate}
				if info.Subtask == 0 {
					s.reached = reached
				}
				return s, nil
			}}}},
		{ID: 2, Parallelism: r.sumPar, Chain: []OperatorSpec{{ID: "sum", Kind: KindTransform, Name: "sum",
			NewOperator: func(info TaskInfo) (Operator, error) {
				return &keyedSum{sub: info.Subtask, par: info.Parallelism, sums: map[int64][2]int64{}}, nil
			}}}},
		{ID: 3, Parallelism: 1, Chain: []OperatorSpec{{ID: "snk", Kind: KindSink, Name: "results",
			NewOperator: func(TaskInfo) (Operator, error) { return r.out.op(), nil }}}},
	}, []Edge{
		{Src: 1, Dest: 2, Type: Shuffle, Key: []int{1}, Schema: kvSchema},
		{Src: 2, Dest: 3, Type: Shuffle, Schema: sumOutSchema},
	})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func wantSums(rows int) map[int64][2]int64 {
	want := map[int64][2]int64{}
	for n := int64(0); n < int64(rows); n++ {
		v := want[n%7]
		want[n%7] = [2]int64{v[0] + n, v[1] + 1}
	}
	return want
}

// reports gathers checkpoint reports by epoch.
type reports struct {
	mu sync.Mutex
	by map[int64][]CheckpointReport
	ch chan CheckpointReport
}

func newReports() *reports {
	return &reports{by: map[int64][]CheckpointReport{}, ch: make(chan CheckpointReport, 64)}
}

func (r *reports) add(rep CheckpointReport) {
	r.mu.Lock()
	r.by[rep.Epoch] = append(r.by[rep.Epoch], rep)
	r.mu.Unlock()
	r.ch <- rep
}

func (r *reports) wait(t *testing.T, epoch int64, tasks int) []CheckpointReport {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		r.mu.Lock()
		got := append([]CheckpointReport(nil), r.by[epoch]...)
		r.mu.Unlock()
		if len(got) >= tasks {
			return got
		}
		select {
		case <-r.ch:
		case <-deadline:
			t.Fatalf("epoch %d: %d of %d reports", epoch, len(got), tasks)
		}
	}
}

// TestCheckpointRestoreRescale takes a checkpoint mid-stream, kills the
// run, and restores it with the keyed stage at several parallelisms: the
// final sums equal those of an uninterrupted run, with every key on the
// subtask that owns it.
func TestCheckpointRestoreRescale(t *testing.T) {
	const rows = 2000
	for _, tc := range []struct{ srcPar, before, after int }{{1, 1, 1}, {2, 1, 2}, {2, 2, 1}, {1, 2, 3}} {
		t.Run(fmt.Sprintf("src%d_sum%d_to_%d", tc.srcPar, tc.before, tc.after), func(t *testing.T) {
			store, err := state.Open(context.Background(), t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			reps := newReports()
			gate := make(chan struct{})
			reached := make(chan struct{}, 1)
			first := sumRun{rows: rows, srcPar: tc.srcPar, sumPar: tc.before, gateAt: rows / 2, gate: gate, reached: reached, out: &sumResults{sums: map[int64][2]int64{}}}
			x, err := NewRunner().Start(context.Background(), first.program(t), RunOptions{JobID: "job_ck",
				Checkpoints: &CheckpointOptions{Store: store, OnReport: reps.add}})
			if err != nil {
				t.Fatal(err)
			}
			<-reached
			if err := x.Checkpoint(1, false); err != nil {
				t.Fatal(err)
			}
			close(gate)
			got := reps.wait(t, 1, x.Tasks())
			for _, rep := range got {
				if rep.Err != nil {
					t.Fatalf("report %+v", rep)
				}
				if rep.CheckpointStarted.Before(rep.AlignmentStarted) || rep.SyncFinished.Before(rep.CheckpointStarted) || rep.Finished.Before(rep.SyncFinished) {
					t.Errorf("report times out of order: %+v", rep)
				}
				if rep.OperatorID != "snk" && (!rep.HasState || rep.Bytes == 0) {
					t.Errorf("operator %s subtask %d wrote no state: %+v", rep.OperatorID, rep.Subtask, rep)
				}
			}
			// A crash: the run is cancelled wherever it is.
			x.Stop(StopImmediate)
			waitDone(t, x)

			second := sumRun{rows: rows, srcPar: tc.srcPar, sumPar: tc.after, out: &sumResults{sums: map[int64][2]int64{}}}
			x2, err := NewRunner().Start(context.Background(), second.program(t), RunOptions{JobID: "job_ck",
				Checkpoints: &CheckpointOptions{Store: store, Restore: 1, OnReport: reps.add}})
			if err != nil {
				t.Fatal(err)
			}
			waitDone(t, x2)
			if err := x2.Err(); err != nil {
				t.Fatal(err)
			}
			if want := wantSums(rows); !maps.Equal(second.out.sums, want) {
				t.Fatalf("sums after restore\n got %v\nwant %v", second.out.sums, want)
			}
		})
	}
}

// TestFinalCheckpointHaltsSources checks that nothing passes a final
// barrier: after it, the sources stop emitting and the run idles until it
// is stopped.
func TestFinalCheckpointHaltsSources(t *testing.T) {
	store, err := state.Open(context.Background(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	reps := newReports()
	gate := make(chan struct{})
	reached := make(chan struct{}, 1)
	r := sumRun{rows: 1000, srcPar: 1, sumPar: 2, gateAt: 300, gate: gate, reached: reached, out: &sumResults{sums: map[int64][2]int64{}}}
	x, err := NewRunner().Start(context.Background(), r.program(t), RunOptions{JobID: "job_final",
		Checkpoints: &CheckpointOptions{Store: store, OnReport: reps.add}})
	if err != nil {
		t.Fatal(err)
	}
	<-reached
	if err := x.Checkpoint(7, true); err != nil {
		t.Fatal(err)
	}
	close(gate)
	reps.wait(t, 7, x.Tasks())
	select {
	case <-x.Done():
		t.Fatal("run ended after a final checkpoint; it should wait to be stopped")
	case <-time.After(100 * time.Millisecond):
	}
	recv := int64(0)
	for _, c := range x.Metrics() {
		if c.OperatorID == "sum" {
			recv += c.MessagesRecv
		}
	}
	if recv != 300 {
		t.Errorf("sum received %d rows, want the 300 before the barrier", recv)
	}
	x.Stop(StopImmediate)
	waitDone(t, x)
	if len(r.out.sums) != 0 {
		t.Errorf("windows flushed after a final checkpoint: %v", r.out.sums)
	}
}

func TestCheckpointWithoutOptions(t *testing.T) {
	x, err := NewRunner().Start(context.Background(), twoNodes(t, 1, 10, funcOp{}), RunOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer waitDone(t, x)
	if err := x.Checkpoint(1, false); err != ErrCheckpointsDisabled {
		t.Errorf("Checkpoint without options: %v", err)
	}
}

func TestRestoreCorruptedState(t *testing.T) {
	ctx := context.Background()
	store, err := state.Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if err := store.Write(ctx, state.SubtaskKey("job_bad", 3, "sum", 0), []byte("not arrow")); err != nil {
		t.Fatal(err)
	}
	r := sumRun{rows: 10, srcPar: 1, sumPar: 1, out: &sumResults{sums: map[int64][2]int64{}}}
	_, err = NewRunner().Start(ctx, r.program(t), RunOptions{JobID: "job_bad", Checkpoints: &CheckpointOptions{Store: store, Restore: 3}})
	var re *RestoreError
	if !errors.As(err, &re) || re.Epoch != 3 {
		t.Fatalf("restore from a corrupted file: %v", err)
	}
}
