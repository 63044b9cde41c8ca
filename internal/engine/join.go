package engine

import (
	"context"
	"fmt"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// JoinConfig configures an inner equi-join of two inputs (input 0 is the
// left side). Both sides keep their rows in keyed state; a row is matched
// against the other side's rows of its key as it arrives, and rows whose
// event time falls more than TTL behind the watermark are forgotten. A
// windowed join (the keys include both sides' window columns) uses TTL 0:
// a window's rows all arrive before the watermark passes its end, so they
// can be dropped then. Output rows are the left columns, the right
// columns, then _timestamp (the later of the two).
type JoinConfig struct {
	LeftKey, RightKey []int
	TTL               int64 // µs
	Out               *arrow.Schema
}

// NewJoin returns the constructor of a join operator.
func NewJoin(cfg JoinConfig) func(TaskInfo) (Operator, error) {
	return func(TaskInfo) (Operator, error) {
		if len(cfg.LeftKey) != len(cfg.RightKey) || len(cfg.LeftKey) == 0 {
			return nil, fmt.Errorf("join: key lengths %d and %d", len(cfg.LeftKey), len(cfg.RightKey))
		}
		return &join{cfg: cfg, sides: [2]*KeyedState[*joinRows]{NewKeyedState[*joinRows](), NewKeyedState[*joinRows]()}}, nil
	}
}

type joinRows struct {
	rows [][]any
	ts   []int64
}

type join struct {
	cfg    JoinConfig
	sides  [2]*KeyedState[*joinRows]
	keyBuf []byte
}

func (j *join) Process(context.Context, arrow.RecordBatch, Collector) error {
	return fmt.Errorf("join: input without an index")
}

func (j *join) Finish(context.Context, Collector) error { return nil }

func (j *join) ProcessInput(ctx context.Context, input int, b arrow.RecordBatch, out Collector) error {
	if input != 0 && input != 1 {
		return fmt.Errorf("join: unexpected input %d", input)
	}
	keyCols := j.cfg.LeftKey
	if input == 1 {
		keyCols = j.cfg.RightKey
	}
	nc := int(b.NumCols())
	ts, ok := b.Column(nc - 1).(*array.Timestamp)
	if !ok {
		return fmt.Errorf("join: last column is not a timestamp")
	}
	keys := make([]arrow.Array, len(keyCols))
	for i, k := range keyCols {
		keys[i] = b.Column(k)
	}
	own, other := j.sides[input], j.sides[1-input]
	var bld *array.RecordBuilder
	rows := 0
	for r := 0; r < int(b.NumRows()); r++ {
		null := false
		for _, k := range keys {
			null = null || k.IsNull(r)
		}
		if null {
			continue // NULL keys match nothing
		}
		j.keyBuf = encodeKey(j.keyBuf[:0], keys, r)
		vals := make([]any, nc-1)
		for c := range vals {
			vals[c] = valueAt(b.Column(c), r)
		}
		t := int64(ts.Value(r))
		if m, ok := other.GetBytes(j.keyBuf); ok {
			if bld == nil {
				bld = array.NewRecordBuilder(memory.DefaultAllocator, j.cfg.Out)
				defer bld.Release()
			}
			for i, ov := range m.rows {
				left, right := vals, ov
				if input == 1 {
					left, right = ov, vals
				}
				for c, v := range left {
					appendAny(bld.Field(c), v)
				}
				for c, v := range right {
					appendAny(bld.Field(len(left)+c), v)
				}
				bld.Field(j.cfg.Out.NumFields() - 1).(*array.TimestampBuilder).Append(arrow.Timestamp(max(t, m.ts[i])))
				rows++
			}
		}
		mine, ok := own.GetBytes(j.keyBuf)
		if !ok {
			mine = &joinRows{}
			own.Put(string(j.keyBuf), mine)
		}
		mine.rows = append(mine.rows, vals)
		mine.ts = append(mine.ts, t)
	}
	if rows == 0 {
		return nil
	}
	rb := bld.NewRecordBatch()
	defer rb.Release()
	return out.Collect(ctx, rb)
}

// ProcessWatermark forgets rows older than the watermark minus the TTL.
func (j *join) ProcessWatermark(_ context.Context, wm int64, _ Collector) error {
	limit := wm - j.cfg.TTL
	for _, side := range j.sides {
		var gone []string
		side.Range(func(k string, jr *joinRows) bool {
			keep := 0
			for i, t := range jr.ts {
				if t >= limit {
					jr.rows[keep], jr.ts[keep] = jr.rows[i], t
					keep++
				}
			}
			clear(jr.rows[keep:])
			jr.rows, jr.ts = jr.rows[:keep], jr.ts[:keep]
			if keep == 0 {
				gone = append(gone, k)
			}
			return true
		})
		for _, k := range gone {
			side.Delete(k)
		}
	}
	return nil
}

// StateRows is the number of rows held (for tests and metrics).
func (j *join) StateRows() int {
	n := 0
	for _, side := range j.sides {
		side.Range(func(_ string, jr *joinRows) bool { n += len(jr.rows); return true })
	}
	return n
}
