package engine

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

var testSchema = arrow.NewSchema([]arrow.Field{{Name: "n", Type: arrow.PrimitiveTypes.Int64}}, nil)

// countSource emits batches of one row each, rows times.
type countSource struct{ rows int }

func (s countSource) Run(ctx context.Context, stop <-chan struct{}, out Collector) error {
	bld := array.NewInt64Builder(memory.DefaultAllocator)
	defer bld.Release()
	for i := 0; i < s.rows; i++ {
		select {
		case <-stop:
			return nil
		default:
		}
		bld.Append(int64(i))
		col := bld.NewArray()
		b := array.NewRecordBatch(testSchema, []arrow.Array{col}, 1)
		col.Release()
		err := out.Collect(ctx, b)
		b.Release()
		if err != nil {
			return err
		}
	}
	return nil
}

type funcOp struct {
	process func(context.Context, arrow.RecordBatch, Collector) error
	finish  func(context.Context, Collector) error
}

func (o funcOp) Process(ctx context.Context, b arrow.RecordBatch, out Collector) error {
	if o.process == nil {
		return out.Collect(ctx, b)
	}
	return o.process(ctx, b, out)
}

func (o funcOp) Finish(ctx context.Context, out Collector) error {
	if o.finish == nil {
		return nil
	}
	return o.finish(ctx, out)
}

// twoNodes is source(par) -> sink(par) over a queue, with sink behaviour op.
func twoNodes(t *testing.T, par, rows int, op funcOp) *Program {
	t.Helper()
	p, err := NewProgram([]*Node{
		{ID: 1, Parallelism: par, Chain: []OperatorSpec{{ID: "src", Kind: KindSource, Name: "count source",
			NewSource: func(TaskInfo) (Source, error) { return countSource{rows: rows}, nil }}}},
		{ID: 2, Parallelism: par, Chain: []OperatorSpec{{ID: "snk", Kind: KindSink, Name: "test sink",
			NewOperator: func(TaskInfo) (Operator, error) { return op, nil }}}},
	}, []Edge{{Src: 1, Dest: 2, Type: Shuffle, Schema: testSchema}})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func waitDone(t *testing.T, x Execution) {
	t.Helper()
	select {
	case <-x.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("execution did not end")
	}
}

// countingTransport wraps the local transport, as a network transport
// would replace it.
type countingTransport struct {
	Transport
	sent atomic.Int64
}

func (c *countingTransport) Outbox(addr TaskAddr) (Outbox, error) {
	ob, err := c.Transport.Outbox(addr)
	if err != nil {
		return nil, err
	}
	return outboxFunc(func(ctx context.Context, m Message) error {
		c.sent.Add(1)
		return ob.Send(ctx, m)
	}), nil
}

type outboxFunc func(context.Context, Message) error

func (f outboxFunc) Send(ctx context.Context, m Message) error { return f(ctx, m) }

func TestPluggableTransport(t *testing.T) {
	var rows atomic.Int64
	p := twoNodes(t, 2, 50, funcOp{process: func(_ context.Context, b arrow.RecordBatch, _ Collector) error {
		rows.Add(b.NumRows())
		return nil
	}})
	tr := &countingTransport{Transport: NewLocalTransport()}
	x, err := (&Local{NewTransport: func() Transport { return tr }}).Start(context.Background(), p, RunOptions{})
	if err != nil {
		t.Fatal(err)
	}
	waitDone(t, x)
	if x.Err() != nil || !x.Finished() {
		t.Fatalf("Err = %v, Finished = %v", x.Err(), x.Finished())
	}
	// 2 sources x 50 batches, plus an end-of-stream from each source to
	// each of the 2 sink subtasks.
	if rows.Load() != 100 || tr.sent.Load() != 104 {
		t.Errorf("rows = %d, messages = %d", rows.Load(), tr.sent.Load())
	}
}

func TestFinishErrorFailsTheRun(t *testing.T) {
	boom := errors.New("flush failed")
	p := twoNodes(t, 1, 3, funcOp{finish: func(context.Context, Collector) error { return boom }})
	x, err := NewRunner().Start(context.Background(), p, RunOptions{})
	if err != nil {
		t.Fatal(err)
	}
	waitDone(t, x)
	var te *TaskError
	if !errors.As(x.Err(), &te) || te.OperatorID != "snk" || !errors.Is(x.Err(), boom) {
		t.Errorf("Err = %v", x.Err())
	}
	if x.Finished() {
		t.Error("Finished despite a failure")
	}
}

func TestConstructorErrorsFailStart(t *testing.T) {
	p, err := NewProgram([]*Node{{ID: 1, Parallelism: 2, Chain: []OperatorSpec{{ID: "src", Kind: KindSource,
		NewSource: func(info TaskInfo) (Source, error) {
			if info.Subtask == 1 {
				return nil, errors.New("cannot connect")
			}
			return countSource{}, nil
		}}}}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = NewRunner().Start(context.Background(), p, RunOptions{})
	var te *TaskError
	if !errors.As(err, &te) || te.OperatorID != "src" || te.Subtask != 1 {
		t.Errorf("Start = %v, want the TaskError of subtask 1", err)
	}
	p.Nodes[0].Chain[0].NewSource = func(TaskInfo) (Source, error) { panic("bad config") }
	if _, err = NewRunner().Start(context.Background(), p, RunOptions{}); !errors.As(err, &te) {
		t.Errorf("Start with a panicking constructor = %v", err)
	}
}

func TestSourcePanicBecomesTaskError(t *testing.T) {
	p, err := NewProgram([]*Node{{ID: 1, Parallelism: 1, Chain: []OperatorSpec{{ID: "src", Kind: KindSource,
		NewSource: func(TaskInfo) (Source, error) { return panicSource{}, nil }}}}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	x, err := NewRunner().Start(context.Background(), p, RunOptions{})
	if err != nil {
		t.Fatal(err)
	}
	waitDone(t, x)
	var te *TaskError
	if !errors.As(x.Err(), &te) || te.OperatorID != "src" {
		t.Errorf("Err = %v", x.Err())
	}
}

type panicSource struct{}

func (panicSource) Run(context.Context, <-chan struct{}, Collector) error {
	var xs []int
	_ = xs[len(xs)] // an index out of range, as a real bug would
	return nil
}

// TestErrorDomains: a failing expression is the user's, an error with no
// attribution is Runnel's, and the domain survives the task's tagging.
func TestErrorDomains(t *testing.T) {
	userErr := WithDomain(DomainUser, errors.New("cannot parse \"x\" as BIGINT"))
	x, err := NewRunner().Start(context.Background(), twoNodes(t, 1, 5, funcOp{process: func(context.Context, arrow.RecordBatch, Collector) error {
		return userErr
	}}), RunOptions{})
	if err != nil {
		t.Fatal(err)
	}
	waitDone(t, x)
	var te *TaskError
	if !errors.As(x.Err(), &te) || te.OperatorID != "snk" || DomainOf(x.Err()) != DomainUser {
		t.Fatalf("err %v (domain %s)", x.Err(), DomainOf(x.Err()))
	}
	if DomainOf(errors.New("bug")) != DomainInternal || DomainOf(nil) != DomainInternal {
		t.Fatal("unattributed errors are internal")
	}
	if WithDomain(DomainExternal, userErr) != userErr {
		t.Fatal("an attributed error keeps its domain")
	}
}
