package engine

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

var tsType = &arrow.TimestampType{Unit: arrow.Microsecond}

// updIn is (k TEXT, v BIGINT, _retract, _timestamp): an updating input.
var updIn = arrow.NewSchema([]arrow.Field{
	{Name: "k", Type: arrow.BinaryTypes.String, Nullable: true},
	{Name: "v", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
	{Name: RetractField, Type: arrow.FixedWidthTypes.Boolean},
	{Name: TimestampField, Type: tsType},
}, nil)

func updOut(aggs ...arrow.Field) *arrow.Schema {
	fs := []arrow.Field{{Name: "k", Type: arrow.BinaryTypes.String, Nullable: true}}
	fs = append(fs, aggs...)
	fs = append(fs, arrow.Field{Name: RetractField, Type: arrow.FixedWidthTypes.Boolean}, arrow.Field{Name: TimestampField, Type: tsType})
	return arrow.NewSchema(fs, nil)
}

func i64(name string) arrow.Field {
	return arrow.Field{Name: name, Type: arrow.PrimitiveTypes.Int64, Nullable: true}
}

func f64(name string) arrow.Field {
	return arrow.Field{Name: name, Type: arrow.PrimitiveTypes.Float64, Nullable: true}
}

// updBatch builds an updIn batch from (key, value, retract) triples; each
// row's event time is its position.
func updBatch(rows ...any) arrow.RecordBatch {
	b := array.NewRecordBuilder(memory.DefaultAllocator, updIn)
	defer b.Release()
	for i := 0; i < len(rows); i += 3 {
		b.Field(0).(*array.StringBuilder).Append(rows[i].(string))
		b.Field(1).(*array.Int64Builder).Append(int64(rows[i+1].(int)))
		b.Field(2).(*array.BooleanBuilder).Append(rows[i+2].(bool))
		b.Field(3).(*array.TimestampBuilder).Append(arrow.Timestamp(i / 3))
	}
	return b.NewRecordBatch()
}

// changes renders output rows as "+k a b" (append) or "-k a b" (retract).
type changes struct{ rows []string }

func (c *changes) Collect(_ context.Context, b arrow.RecordBatch) error {
	nc := int(b.NumCols())
	flags := b.Column(nc - 2).(*array.Boolean)
	for r := 0; r < int(b.NumRows()); r++ {
		s := "+"
		if flags.Value(r) {
			s = "-"
		}
		var vals []string
		for c := 0; c < nc-2; c++ {
			vals = append(vals, b.Column(c).ValueStr(r))
		}
		c.rows = append(c.rows, s+strings.Join(vals, " "))
	}
	return nil
}

func (c *changes) take() string {
	s := strings.Join(c.rows, "|")
	c.rows = nil
	return s
}

func newUpd(t *testing.T, cfg UpdatingAggConfig) Operator {
	t.Helper()
	op, err := NewUpdatingAgg(cfg)(TaskInfo{})
	if err != nil {
		t.Fatal(err)
	}
	return op
}

func feed(t *testing.T, op Operator, out Collector, b arrow.RecordBatch) {
	t.Helper()
	defer b.Release()
	if err := op.Process(context.Background(), b, out); err != nil {
		t.Fatal(err)
	}
}

// Over an append-only input every aggregate works; each batch yields one
// retraction and one append per changed key, not one per row.
func TestUpdatingAggAppendOnlyCoalesces(t *testing.T) {
	op := newUpd(t, UpdatingAggConfig{Keys: []int{0}, Retract: -1,
		Aggs: []AggSpec{{Kind: AggCountStar}, {Kind: AggSum, Arg: 1}, {Kind: AggAvg, Arg: 1}, {Kind: AggMin, Arg: 1}, {Kind: AggMax, Arg: 1}, {Kind: AggCountDistinct, Arg: 1}},
		Out:  updOut(i64("n"), i64("s"), f64("a"), i64("lo"), i64("hi"), i64("d"))})
	out := &changes{}
	// The retract column is ignored when the input is append-only.
	feed(t, op, out, updBatch("a", 1, false, "b", 2, false, "a", 3, false, "a", 3, false))
	if got, want := out.take(), "+a 3 7 2.3333333333333335 1 3 2|+b 1 2 2 2 2 1"; got != want {
		t.Fatalf("batch 1:\n got %s\nwant %s", got, want)
	}
	feed(t, op, out, updBatch("b", 5, false, "b", 0, false))
	if got, want := out.take(), "-b 1 2 2 2 2 1|+b 3 7 2.3333333333333335 0 5 3"; got != want {
		t.Fatalf("batch 2:\n got %s\nwant %s", got, want)
	}
}

// Over an updating input retractions subtract; a key whose result does
// not change emits nothing, and one whose last row is retracted emits only
// the retraction and is forgotten.
func TestUpdatingAggRetractions(t *testing.T) {
	op := newUpd(t, UpdatingAggConfig{Keys: []int{0}, Retract: 2,
		Aggs: []AggSpec{{Kind: AggCount, Arg: 1}, {Kind: AggSum, Arg: 1}, {Kind: AggAvg, Arg: 1}},
		Out:  updOut(i64("n"), i64("s"), f64("a"))})
	out := &changes{}
	feed(t, op, out, updBatch("a", 4, false, "a", 6, false, "b", 1, false))
	if got, want := out.take(), "+a 2 10 5|+b 1 1 1"; got != want {
		t.Fatalf("batch 1:\n got %s\nwant %s", got, want)
	}
	// a: 4 is replaced by 8; b: 1 replaced by 1 (no change).
	feed(t, op, out, updBatch("a", 4, true, "a", 8, false, "b", 1, true, "b", 1, false))
	if got, want := out.take(), "-a 2 10 5|+a 2 14 7"; got != want {
		t.Fatalf("batch 2:\n got %s\nwant %s", got, want)
	}
	feed(t, op, out, updBatch("b", 1, true))
	if got, want := out.take(), "-b 1 1 1"; got != want {
		t.Fatalf("batch 3:\n got %s\nwant %s", got, want)
	}
	if n := op.(*updatingAgg).groups.Len(); n != 1 {
		t.Fatalf("%d groups kept, want 1 (b was emptied)", n)
	}
	// b starts afresh: no retraction of its old row.
	feed(t, op, out, updBatch("b", 9, false))
	if got, want := out.take(), "+b 1 9 9"; got != want {
		t.Fatalf("batch 4:\n got %s\nwant %s", got, want)
	}
	// A retraction the group never saw the append of is an error.
	if err := op.Process(context.Background(), updBatch("c", 1, true), out); err == nil {
		t.Fatal("a retraction without its append was accepted")
	}
}

// q4's shape: max per (auction, category) over append-only rows, then avg
// per category over that updating result. Applying the outer changelog
// gives the average of the current maxima after every batch.
func TestUpdatingAggNested(t *testing.T) {
	in := arrow.NewSchema([]arrow.Field{
		i64("id"), i64("cat"), i64("price"), {Name: TimestampField, Type: tsType},
	}, nil)
	mid := arrow.NewSchema([]arrow.Field{
		i64("id"), i64("cat"), i64("final"),
		{Name: RetractField, Type: arrow.FixedWidthTypes.Boolean}, {Name: TimestampField, Type: tsType},
	}, nil)
	top := arrow.NewSchema([]arrow.Field{
		i64("cat"), f64("avg_final"),
		{Name: RetractField, Type: arrow.FixedWidthTypes.Boolean}, {Name: TimestampField, Type: tsType},
	}, nil)
	inner := newUpd(t, UpdatingAggConfig{Keys: []int{0, 1}, Retract: -1, Aggs: []AggSpec{{Kind: AggMax, Arg: 2}}, Out: mid})
	// The outer aggregate reads the inner output as (cat, final, _retract, _timestamp).
	outer := newUpd(t, UpdatingAggConfig{Keys: []int{0}, Retract: 2, Aggs: []AggSpec{{Kind: AggAvg, Arg: 1}}, Out: top})
	table := map[string]int{} // the folded outer changelog: row -> multiplicity
	fold := CollectorFunc(func(_ context.Context, b arrow.RecordBatch) error {
		c := &changes{}
		_ = c.Collect(context.Background(), b)
		for _, r := range c.rows {
			if r[0] == '-' {
				if table[r[1:]] == 0 {
					return fmt.Errorf("retraction of absent row %s", r)
				}
				table[r[1:]]--
				continue
			}
			table[r[1:]]++
		}
		return nil
	})
	toOuter := CollectorFunc(func(ctx context.Context, b arrow.RecordBatch) error {
		cols := []arrow.Array{b.Column(1), b.Column(2), b.Column(3), b.Column(4)}
		rb := array.NewRecordBatch(arrow.NewSchema([]arrow.Field{mid.Field(1), mid.Field(2), mid.Field(3), mid.Field(4)}, nil), cols, b.NumRows())
		defer rb.Release()
		return outer.Process(ctx, rb, fold)
	})
	bids := func(rows ...int) arrow.RecordBatch {
		b := array.NewRecordBuilder(memory.DefaultAllocator, in)
		defer b.Release()
		for i := 0; i < len(rows); i += 3 {
			for c := 0; c < 3; c++ {
				b.Field(c).(*array.Int64Builder).Append(int64(rows[i+c]))
			}
			b.Field(3).(*array.TimestampBuilder).Append(arrow.Timestamp(i))
		}
		return b.NewRecordBatch()
	}
	live := func() string {
		var rows []string
		for r, n := range table {
			for ; n > 0; n-- {
				rows = append(rows, r)
			}
		}
		if len(rows) > 1 {
			if rows[0] > rows[1] {
				rows[0], rows[1] = rows[1], rows[0]
			}
		}
		return strings.Join(rows, "|")
	}
	// Auctions 1 and 2 in category 10, auction 3 in category 20.
	feed(t, inner, toOuter, bids(1, 10, 100, 2, 10, 50, 3, 20, 7))
	if got, want := live(), "10 75|20 7"; got != want {
		t.Fatalf("after batch 1: %s, want %s", got, want)
	}
	// A higher bid on auction 2 and a lower one on auction 1.
	feed(t, inner, toOuter, bids(2, 10, 300, 1, 10, 20))
	if got, want := live(), "10 200|20 7"; got != want {
		t.Fatalf("after batch 2: %s, want %s", got, want)
	}
}

// Over an updating input min, max and count(DISTINCT) keep the group's
// values: retracting the maximum brings back the next one, retracting one
// of two equal values changes nothing.
func TestUpdatingAggMinMaxOverRetractions(t *testing.T) {
	op := newUpd(t, UpdatingAggConfig{Keys: []int{0}, Retract: 2,
		Aggs: []AggSpec{{Kind: AggMin, Arg: 1}, {Kind: AggMax, Arg: 1}, {Kind: AggCountDistinct, Arg: 1}},
		Out:  updOut(i64("lo"), i64("hi"), i64("d"))})
	out := &changes{}
	feed(t, op, out, updBatch("a", 5, false, "a", 9, false, "a", 9, false, "a", 1, false))
	if got, want := out.take(), "+a 1 9 3"; got != want {
		t.Fatalf("batch 1: got %s, want %s", got, want)
	}
	feed(t, op, out, updBatch("a", 9, true))
	if got := out.take(); got != "" {
		t.Fatalf("retracting one of two 9s changed the result: %s", got)
	}
	feed(t, op, out, updBatch("a", 9, true, "a", 1, true))
	if got, want := out.take(), "-a 1 9 3|+a 5 5 1"; got != want {
		t.Fatalf("batch 3: got %s, want %s", got, want)
	}
	feed(t, op, out, updBatch("a", 7, false, "a", 5, true))
	if got, want := out.take(), "-a 5 5 1|+a 7 7 1"; got != want {
		t.Fatalf("batch 4: got %s, want %s", got, want)
	}
}

// Pairing is positional: a retraction and the append right after it are
// one update, whatever their keys (a consumer applying "u" as delete then
// insert gets the same table).
func TestChangesPairsRetractionsWithAppends(t *testing.T) {
	b := updBatch("a", 1, true, "a", 2, false, "b", 1, true, "c", 3, false, "d", 4, true)
	defer b.Release()
	var got []string
	for _, c := range Changes(b) {
		got = append(got, fmt.Sprintf("%c%d,%d", c.Op, c.Before, c.After))
	}
	if s, want := strings.Join(got, " "), "u0,1 u2,3 d4,-1"; s != want {
		t.Fatalf("got %s, want %s", s, want)
	}
	plain := aggBatch("a", 1, 1)
	defer plain.Release()
	if cs := Changes(plain); len(cs) != 1 || cs[0].Op != 'c' {
		t.Fatalf("append-only batch: %v", cs)
	}
}

// Random changelogs in random batches: after every batch, the folded
// output equals every aggregate recomputed from the live input rows.
func TestUpdatingAggRandomChangelog(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	op := newUpd(t, UpdatingAggConfig{Keys: []int{0}, Retract: 2,
		Aggs: []AggSpec{{Kind: AggCountStar}, {Kind: AggSum, Arg: 1}, {Kind: AggAvg, Arg: 1},
			{Kind: AggMin, Arg: 1}, {Kind: AggMax, Arg: 1}, {Kind: AggCountDistinct, Arg: 1}},
		Out: updOut(i64("n"), i64("s"), f64("a"), i64("lo"), i64("hi"), i64("d"))})
	type row struct {
		k string
		v int
	}
	var live []row            // the input table
	table := map[string]int{} // the folded output
	out := CollectorFunc(func(_ context.Context, b arrow.RecordBatch) error {
		c := &changes{}
		_ = c.Collect(context.Background(), b)
		seen := map[string]bool{}
		for _, r := range c.rows {
			key := strings.Fields(r[1:])[0]
			if r[0] == '+' {
				if seen["+"+key] {
					return fmt.Errorf("two appends for key %s in one batch", key)
				}
				seen["+"+key] = true
				table[r[1:]]++
				continue
			}
			if table[r[1:]] == 0 {
				return fmt.Errorf("retraction of absent row %s", r)
			}
			table[r[1:]]--
		}
		return nil
	})
	for batch := 0; batch < 300; batch++ {
		var args []any
		for range 1 + rng.IntN(20) {
			if len(live) > 0 && rng.IntN(3) == 0 {
				i := rng.IntN(len(live))
				args = append(args, live[i].k, live[i].v, true)
				live = append(live[:i], live[i+1:]...)
				continue
			}
			r := row{k: string(rune('a' + rng.IntN(6))), v: rng.IntN(30) - 10}
			live = append(live, r)
			args = append(args, r.k, r.v, false)
		}
		feed(t, op, out, updBatch(args...))
		vals := map[string][]int{}
		for _, r := range live {
			vals[r.k] = append(vals[r.k], r.v)
		}
		var wantRows, gotRows []string
		for k, vs := range vals {
			sum, lo, hi, distinct := 0, vs[0], vs[0], map[int]bool{}
			for _, v := range vs {
				sum += v
				lo, hi = min(lo, v), max(hi, v)
				distinct[v] = true
			}
			wantRows = append(wantRows, fmt.Sprintf("%s %d %d %s %d %d %d", k, len(vs), sum,
				strconv.FormatFloat(float64(sum)/float64(len(vs)), 'g', -1, 64), lo, hi, len(distinct)))
		}
		for r, n := range table {
			for range n {
				gotRows = append(gotRows, r)
			}
		}
		sort.Strings(wantRows)
		sort.Strings(gotRows)
		if strings.Join(gotRows, "|") != strings.Join(wantRows, "|") {
			t.Fatalf("after batch %d:\n got %v\nwant %v", batch, gotRows, wantRows)
		}
	}
}
