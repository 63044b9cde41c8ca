package engine

import (
	"context"
	"fmt"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// RetractField is the column that makes a stream "updating": a changelog
// of appends and retractions of rows instead of appends only. It is a
// non-null BOOLEAN placed just before TimestampField; true means "remove
// one row equal to this one", false means "add this row". A retraction of
// a row is emitted before the append that replaces it, adjacent to it, so
// sinks can pair the two into one update.
//
// A plain column (rather than a struct of flag and row id) keeps filters
// and projections oblivious: they pass it through like any other column,
// and pairing needs no id because the producer keeps the pair adjacent.
const RetractField = "_retract"

// IsUpdating reports whether batches of schema form a changelog.
func IsUpdating(s *arrow.Schema) bool {
	n := s.NumFields()
	return n >= 2 && s.Field(n-2).Name == RetractField && s.Field(n-1).Name == TimestampField
}

// UpdatingAggConfig configures an updating (unwindowed) aggregate. Input
// batches have the key columns, then argument columns, then, if Retract
// >= 0, the input's RetractField at that index, then _timestamp (last).
// Output batches have the keys, one column per aggregate, RetractField and
// _timestamp.
type UpdatingAggConfig struct {
	Keys []int
	Aggs []AggSpec
	// Retract is the index of the input's retraction flags, or -1 when the
	// input is append-only.
	Retract int
	Out     *arrow.Schema
}

// NewUpdatingAgg returns the constructor of an updating aggregate. Each
// input batch updates the groups it touches; then, once per touched group,
// the row emitted for it before is retracted and the new row appended
// (nothing when the result did not change, only the retraction when the
// group lost its last row).
func NewUpdatingAgg(cfg UpdatingAggConfig) func(TaskInfo) (Operator, error) {
	return func(TaskInfo) (Operator, error) {
		if cfg.Out.NumFields() != len(cfg.Keys)+len(cfg.Aggs)+2 || !IsUpdating(cfg.Out) {
			return nil, fmt.Errorf("updating aggregate: output schema %s must have %d keys, %d aggregates, %s and %s",
				cfg.Out, len(cfg.Keys), len(cfg.Aggs), RetractField, TimestampField)
		}
		accAggs := cfg.Aggs
		if cfg.Retract >= 0 {
			// Over an updating input count(DISTINCT) is the size of the
			// group's multiset; the accumulator's set of values would
			// only duplicate it.
			accAggs = append([]AggSpec(nil), cfg.Aggs...)
			for i := range accAggs {
				if accAggs[i].Kind == AggCountDistinct {
					accAggs[i].Kind = AggCount
				}
			}
		}
		return &updatingAgg{
			cfg:    cfg,
			groups: NewKeyedState[*updGroup](),
			// The window aggregate's accumulator code, reused as is.
			accum: &windowAgg{cfg: WindowAggConfig{Aggs: accAggs}},
		}, nil
	}
}

// updGroup is one group's accumulators and bookkeeping.
type updGroup struct {
	group
	// rows is the number of input rows currently in the group (appends
	// minus retractions); the group is dropped when it reaches 0.
	rows int64
	// emitted is whether a row for the group is out (and not retracted).
	emitted bool
	// seen is the number of the last batch that touched the group, and
	// at its entry in that batch's touched list.
	seen int64
	at   int
	// multi, over an updating input, holds per aggregate the multiset of
	// live values of min, max and count(DISTINCT) (updating_multiset.go).
	multi []map[string]int64
}

// touch is a group touched by the current batch, with its result before
// the batch (if a row for it was out) and its latest event time.
type touch struct {
	key  string
	g    *updGroup
	old  []any
	had  bool
	time int64
}

type updatingAgg struct {
	cfg     UpdatingAggConfig
	groups  *KeyedState[*updGroup]
	accum   *windowAgg
	keyBuf  []byte
	valBuf  []byte
	batch   int64
	touched []touch
}

func (u *updatingAgg) Process(ctx context.Context, b arrow.RecordBatch, out Collector) error {
	n := int(b.NumRows())
	if n == 0 {
		return nil
	}
	ts, keys, args, err := aggInputs("updating aggregate", b, u.cfg.Keys, u.cfg.Aggs)
	if err != nil {
		return err
	}
	var retract *array.Boolean
	if u.cfg.Retract >= 0 {
		var ok bool
		if retract, ok = b.Column(u.cfg.Retract).(*array.Boolean); !ok {
			return fmt.Errorf("updating aggregate: column %d is %s, not the %s flags", u.cfg.Retract, b.Column(u.cfg.Retract).DataType(), RetractField)
		}
	}
	u.batch++
	u.touched = u.touched[:0]
	for r := 0; r < n; r++ {
		u.keyBuf = encodeKey(u.keyBuf[:0], keys, r)
		g, ok := u.groups.GetBytes(u.keyBuf)
		if !ok {
			g = &updGroup{group: group{accs: make([]acc, len(u.cfg.Aggs)), key: make([]any, len(keys))}}
			for i, k := range keys {
				g.key[i] = valueAt(k, r)
			}
			u.groups.Put(string(u.keyBuf), g)
		}
		t := int64(ts[r])
		if g.seen != u.batch {
			g.seen, g.at = u.batch, len(u.touched)
			tc := touch{key: string(u.keyBuf), g: g, had: g.emitted, time: t}
			if g.emitted {
				tc.old = u.results(g)
			}
			u.touched = append(u.touched, tc)
		} else if t > u.touched[g.at].time {
			u.touched[g.at].time = t
		}
		if retract != nil && retract.Value(r) {
			u.undo(g, args, r)
			g.rows--
			continue
		}
		u.accum.update(&g.group, args, r)
		if retract != nil {
			for i, a := range u.cfg.Aggs {
				if needsMultiset(a.Kind) && !args[i].IsNull(r) {
					u.multisetAdd(g, i, args[i], r)
				}
			}
		}
		g.rows++
	}
	return u.emit(ctx, out)
}

// undo removes row r's contribution from a group: the inverse of
// windowAgg.update (min, max and count(DISTINCT) through the group's
// multisets).
func (u *updatingAgg) undo(g *updGroup, args []arrow.Array, r int) {
	for i, spec := range u.cfg.Aggs {
		a := &g.accs[i]
		if spec.Kind == AggCountStar {
			a.n--
			continue
		}
		col := args[i]
		if col.IsNull(r) {
			continue
		}
		switch spec.Kind {
		case AggCount:
			a.n--
		case AggMin, AggMax, AggCountDistinct:
			u.multisetRemove(g, i, col, r)
		case AggSum, AggAvg:
			a.n--
			switch c := col.(type) {
			case *array.Int64:
				a.i -= c.Value(r)
				a.f -= float64(c.Value(r))
			case *array.Float64:
				a.f -= c.Value(r)
			}
			if a.n == 0 {
				// Back to no values: SUM is NULL again, and float
				// residue must not survive.
				a.i, a.f, a.set = 0, 0, false
			}
		}
	}
}

// results is a group's current aggregate values as Go values. They are
// kept across the batch (the accumulators change under them), so they are
// values, not builder appends.
func (u *updatingAgg) results(g *updGroup) []any {
	nk := len(u.cfg.Keys)
	vs := make([]any, len(u.cfg.Aggs))
	for i, spec := range u.cfg.Aggs {
		a := &g.accs[i]
		t := u.cfg.Out.Field(nk + i).Type
		switch spec.Kind {
		case AggCountStar, AggCount:
			vs[i] = a.n
		case AggCountDistinct:
			if g.multi != nil {
				vs[i] = int64(len(g.multi[i]))
			} else {
				vs[i] = int64(len(a.distinct))
			}
		case AggAvg:
			if a.n > 0 {
				vs[i] = a.f / float64(a.n)
			}
		case AggSum, AggMin, AggMax:
			if !a.set {
				continue
			}
			switch t.ID() {
			case arrow.INT64:
				vs[i] = a.i
			case arrow.TIMESTAMP:
				vs[i] = arrow.Timestamp(a.i)
			case arrow.FLOAT64:
				vs[i] = a.f
			case arrow.STRING:
				vs[i] = a.s
			case arrow.BOOL:
				vs[i] = a.i == 1
			}
		}
	}
	return vs
}

func sameValues(a, b []any) bool {
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// emit writes the changes of the touched groups, in the order the batch
// first touched them.
func (u *updatingAgg) emit(ctx context.Context, out Collector) error {
	bld := array.NewRecordBuilder(memory.DefaultAllocator, u.cfg.Out)
	defer bld.Release()
	nk, na := len(u.cfg.Keys), len(u.cfg.Aggs)
	rows := 0
	row := func(g *updGroup, vals []any, retract bool, t int64) error {
		for i, v := range g.key {
			appendAny(bld.Field(i), v)
		}
		for i, v := range vals {
			appendAny(bld.Field(nk+i), v)
		}
		bld.Field(nk + na).(*array.BooleanBuilder).Append(retract)
		bld.Field(nk + na + 1).(*array.TimestampBuilder).Append(arrow.Timestamp(t))
		rows++
		if rows < maxOutRows {
			return nil
		}
		rows = 0
		rb := bld.NewRecordBatch()
		defer rb.Release()
		return out.Collect(ctx, rb)
	}
	for i := range u.touched {
		tc := &u.touched[i]
		g := tc.g
		if g.rows < 0 {
			return fmt.Errorf("updating aggregate: more retractions than rows for a group (a retraction without its append)")
		}
		var cur []any
		if g.rows > 0 {
			cur = u.results(g)
			if tc.had && sameValues(tc.old, cur) {
				continue
			}
		}
		if tc.had {
			if err := row(g, tc.old, true, tc.time); err != nil {
				return err
			}
		}
		if g.rows == 0 {
			g.emitted = false
			u.groups.Delete(tc.key)
			continue
		}
		if err := row(g, cur, false, tc.time); err != nil {
			return err
		}
		g.emitted = true
	}
	u.touched = u.touched[:0]
	if rows == 0 {
		return nil
	}
	rb := bld.NewRecordBatch()
	defer rb.Release()
	return out.Collect(ctx, rb)
}

// Finish has nothing to flush: every change was emitted with its batch.
func (u *updatingAgg) Finish(context.Context, Collector) error { return nil }
