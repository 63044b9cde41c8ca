package connectors

import (
	"context"
	"fmt"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/runnel-dev/runnel/internal/engine"
)

// Stride is the checkpointable position of a parallel generator whose
// subtask s of p emits the sequence numbers s, s+p, s+2p, … It survives a
// change of parallelism: the ranges earlier runs covered are kept as
// layers, and a number one of them covers is skipped, so that across any
// number of restores and rescales each number is emitted exactly once.
type Stride struct {
	sub, par int
	next     int64   // index: the next candidate is sub + next*par
	layers   []layer // what earlier runs with other strides covered
}

// layer says that subtask sub of par covered indexes below next.
type layer struct {
	par, sub int64
	next     int64
}

// NewStride starts subtask sub of par at the beginning.
func NewStride(sub, par int) *Stride { return &Stride{sub: sub, par: max(par, 1)} }

// Next returns the next sequence number to emit and moves past it. It
// skips numbers an earlier run emitted.
func (s *Stride) Next() int64 {
	for {
		seq := int64(s.sub) + s.next*int64(s.par)
		s.next++
		if !s.covered(seq) {
			return seq
		}
	}
}

// Peek is the sequence number Next would return, without moving.
func (s *Stride) Peek() int64 {
	save := s.next
	seq := s.Next()
	s.next = save
	return seq
}

// Subtask is the subtask whose numbers the stride holds.
func (s *Stride) Subtask() int { return s.sub }

// Emitted is how many numbers this stride has passed, emitted or skipped.
func (s *Stride) Emitted() int64 { return s.next }

func (s *Stride) covered(seq int64) bool {
	for _, l := range s.layers {
		if seq%l.par == l.sub && seq/l.par < l.next {
			return true
		}
	}
	return false
}

var strideSchema = arrow.NewSchema([]arrow.Field{
	{Name: "parallelism", Type: arrow.PrimitiveTypes.Int64},
	{Name: "subtask", Type: arrow.PrimitiveTypes.Int64},
	{Name: "next", Type: arrow.PrimitiveTypes.Int64},
}, nil)

// Snapshot implements the state half of engine.Snapshotter.
func (s *Stride) Snapshot(context.Context, int64) (*arrow.Schema, []arrow.RecordBatch, error) {
	b := array.NewRecordBuilder(memory.DefaultAllocator, strideSchema)
	defer b.Release()
	add := func(l layer) {
		b.Field(0).(*array.Int64Builder).Append(l.par)
		b.Field(1).(*array.Int64Builder).Append(l.sub)
		b.Field(2).(*array.Int64Builder).Append(l.next)
	}
	add(layer{par: int64(s.par), sub: int64(s.sub), next: s.next})
	for _, l := range s.layers {
		add(l)
	}
	return strideSchema, []arrow.RecordBatch{b.NewRecordBatch()}, nil
}

// Restore implements engine.Restorer: it gathers what every old subtask
// covered. Its own earlier position becomes its cursor; the rest become
// layers to skip.
func (s *Stride) Restore(_ context.Context, st engine.RestoredState) error {
	best := map[[2]int64]int64{}
	for _, p := range st.Parts {
		for _, b := range p.Batches {
			if b.NumCols() != 3 {
				return fmt.Errorf("source position: %d columns, want 3", b.NumCols())
			}
			par, ok1 := b.Column(0).(*array.Int64)
			sub, ok2 := b.Column(1).(*array.Int64)
			next, ok3 := b.Column(2).(*array.Int64)
			if !ok1 || !ok2 || !ok3 {
				return fmt.Errorf("source position: unexpected column types %s", b.Schema())
			}
			for i := 0; i < int(b.NumRows()); i++ {
				k := [2]int64{par.Value(i), sub.Value(i)}
				if k[0] < 1 || k[1] < 0 || k[1] >= k[0] {
					return fmt.Errorf("source position: subtask %d of %d", k[1], k[0])
				}
				best[k] = max(best[k], next.Value(i))
			}
		}
	}
	s.layers = s.layers[:0]
	for k, next := range best {
		if k[0] == int64(s.par) {
			// Same stride: only this subtask's own numbers matter to it.
			if k[1] == int64(s.sub) {
				s.next = max(s.next, next)
			}
			continue
		}
		s.layers = append(s.layers, layer{par: k[0], sub: k[1], next: next})
	}
	return nil
}

// NextRun skips numbers an earlier run emitted and returns the next run of
// at most max numbers that none did, all below limit (no bound if limit
// is negative): its first number and its length; the numbers are first,
// first+p, first+2p, … It moves past them. n is 0 when limit is reached.
func (s *Stride) NextRun(max, limit int64) (first, n int64) {
	par := int64(s.par)
	for {
		first = int64(s.sub) + s.next*par
		if limit >= 0 && first >= limit {
			return first, 0
		}
		if !s.covered(first) {
			break
		}
		s.next++
	}
	for n < max {
		seq := first + n*par
		if (limit >= 0 && seq >= limit) || (n > 0 && s.covered(seq)) {
			break
		}
		n++
	}
	s.next += n
	return first, n
}
