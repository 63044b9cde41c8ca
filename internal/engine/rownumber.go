package engine

import (
	"context"
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// RowNumberConfig configures ROW_NUMBER() OVER (PARTITION BY ... ORDER BY
// ...). Rows are buffered per partition; a partition is complete, sorted
// and emitted with its row numbers once the watermark passes the event time
// of its rows (partitions include a window, whose rows all carry the
// window's end as event time). Out is the input's columns, then
// row_number (BIGINT), then _timestamp.
type RowNumberConfig struct {
	Partition []int
	Order     []int
	Desc      []bool
	// Limit, if positive, keeps only the first Limit rows of a partition
	// (a filter row_number <= Limit pushed into the operator).
	Limit int64
	Out   *arrow.Schema
}

// NewRowNumber returns the constructor of a ROW_NUMBER operator.
func NewRowNumber(cfg RowNumberConfig) func(TaskInfo) (Operator, error) {
	return func(TaskInfo) (Operator, error) {
		return &rowNumber{cfg: cfg, parts: NewKeyedState[*partition]()}, nil
	}
}

type partition struct {
	rows [][]any
	ts   int64
}

type rowNumber struct {
	cfg    RowNumberConfig
	parts  *KeyedState[*partition]
	keyBuf []byte
	rowBuf []byte
	wm     int64
}

func (r *rowNumber) Process(_ context.Context, b arrow.RecordBatch, _ Collector) error {
	n := int(b.NumRows())
	nc := int(b.NumCols())
	ts, ok := b.Column(nc - 1).(*array.Timestamp)
	if !ok {
		return fmt.Errorf("row_number: last column is not a timestamp")
	}
	keys := make([]arrow.Array, len(r.cfg.Partition))
	for i, k := range r.cfg.Partition {
		keys[i] = b.Column(k)
	}
	order := make([]arrow.Array, len(r.cfg.Order))
	for i, c := range r.cfg.Order {
		order[i] = b.Column(c)
	}
	tsv := ts.TimestampValues()
	var p *partition
	for row := 0; row < n; row++ {
		// Consecutive rows mostly share a partition (a window's rows
		// arrive together): look the key up only when it changes.
		r.rowBuf = encodeKey(r.rowBuf[:0], keys, row)
		if p == nil || string(r.rowBuf) != string(r.keyBuf) {
			r.keyBuf, r.rowBuf = r.rowBuf, r.keyBuf
			var ok bool
			p, ok = r.parts.GetBytes(r.keyBuf)
			if !ok {
				p = &partition{ts: math.MinInt64}
				r.parts.Put(string(r.keyBuf), p)
			}
		}
		p.ts = max(p.ts, int64(tsv[row]))
		pos := len(p.rows)
		if r.cfg.Limit > 0 {
			// Keep the partition's first Limit rows in order as they
			// come: a row goes after the rows it ties with (as a stable
			// sort would put it), and one that would land beyond the
			// limit is never stored.
			pos = r.upperBound(p.rows, order, row)
			if int64(pos) >= r.cfg.Limit {
				continue
			}
		}
		vals := make([]any, nc-1)
		for c := 0; c < nc-1; c++ {
			vals[c] = valueAt(b.Column(c), row)
		}
		if pos == len(p.rows) {
			p.rows = append(p.rows, vals)
		} else {
			p.rows = slices.Insert(p.rows, pos, vals)
		}
		if r.cfg.Limit > 0 && int64(len(p.rows)) > r.cfg.Limit {
			p.rows[len(p.rows)-1] = nil
			p.rows = p.rows[:r.cfg.Limit]
		}
	}
	return nil
}

// upperBound is the position of the first of rows (sorted) that orders
// after row of the batch whose ORDER BY columns are order.
func (r *rowNumber) upperBound(rows [][]any, order []arrow.Array, row int) int {
	return sort.Search(len(rows), func(i int) bool {
		for o, c := range r.cfg.Order {
			// compare rows[i] with the new row
			if x := -compareArrayAny(order[o], row, rows[i][c], r.cfg.Desc[o]); x != 0 {
				return x > 0
			}
		}
		return false
	})
}

// compareArrayAny compares row r of a with v (from valueAt on a column
// of the same type) as compareAny(valueAt(a, r), v, desc) would, without
// boxing the row's value.
func compareArrayAny(a arrow.Array, r int, v any, desc bool) int {
	if a.IsNull(r) || v == nil {
		return compareAny(valueAt(a, r), v, desc)
	}
	c := 0
	switch x := a.(type) {
	case *array.Int64:
		c = cmp3(x.Value(r), v.(int64))
	case *array.Int32:
		c = cmp3(x.Value(r), v.(int32))
	case *array.Float64:
		c = cmp3(x.Value(r), v.(float64))
	case *array.Timestamp:
		c = cmp3(x.Value(r), v.(arrow.Timestamp))
	case *array.String:
		c = strings.Compare(x.Value(r), v.(string))
	default:
		return compareAny(valueAt(a, r), v, desc)
	}
	if desc {
		return -c
	}
	return c
}

func (r *rowNumber) ProcessWatermark(ctx context.Context, wm int64, out Collector) error {
	r.wm = wm
	return r.fire(ctx, wm, out)
}

func (r *rowNumber) Finish(ctx context.Context, out Collector) error {
	return r.fire(ctx, math.MaxInt64, out)
}

func (r *rowNumber) fire(ctx context.Context, wm int64, out Collector) error {
	var ready []string
	r.parts.Range(func(k string, p *partition) bool {
		if p.ts < wm {
			ready = append(ready, k)
		}
		return true
	})
	if len(ready) == 0 {
		return nil
	}
	bld := array.NewRecordBuilder(memory.DefaultAllocator, r.cfg.Out)
	defer bld.Release()
	nf := r.cfg.Out.NumFields()
	rows := 0
	for _, k := range ready {
		p, _ := r.parts.Get(k)
		r.parts.Delete(k)
		if r.cfg.Limit <= 0 { // with a limit, Process kept the rows sorted
			slices.SortStableFunc(p.rows, func(a, b []any) int {
				for o, c := range r.cfg.Order {
					if x := compareAny(a[c], b[c], r.cfg.Desc[o]); x != 0 {
						return x
					}
				}
				return 0
			})
		}
		for i, vals := range p.rows {
			if r.cfg.Limit > 0 && int64(i) >= r.cfg.Limit {
				break
			}
			for c, v := range vals {
				appendAny(bld.Field(c), v)
			}
			bld.Field(nf - 2).(*array.Int64Builder).Append(int64(i + 1))
			bld.Field(nf - 1).(*array.TimestampBuilder).Append(arrow.Timestamp(p.ts))
			rows++
		}
	}
	if rows == 0 {
		return nil
	}
	rb := bld.NewRecordBatch()
	defer rb.Release()
	return out.Collect(ctx, rb)
}

// compareAny orders two values from valueAt; NULLs sort last ascending
// and first descending, as in PostgreSQL.
func compareAny(a, b any, desc bool) int {
	c := 0
	switch {
	case a == nil && b == nil:
		return 0
	case a == nil:
		c = 1
	case b == nil:
		c = -1
	default:
		switch x := a.(type) {
		case int64:
			c = cmp3(x, b.(int64))
		case int32:
			c = cmp3(x, b.(int32))
		case float64:
			c = cmp3(x, b.(float64))
		case arrow.Timestamp:
			c = cmp3(x, b.(arrow.Timestamp))
		case string:
			c = strings.Compare(x, b.(string))
		case bool:
			y := b.(bool)
			switch {
			case x == y:
			case !x:
				c = -1
			default:
				c = 1
			}
		}
	}
	if desc {
		return -c
	}
	return c
}

func cmp3[T int64 | int32 | float64 | arrow.Timestamp](a, b T) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
