package engine

import (
	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
)

// Change is one entry of a batch read as a Debezium-style changelog:
// Op is 'c' (create: After only), 'u' (update: Before replaced by After)
// or 'd' (delete: Before only). Before and After are row indexes, -1 when
// absent.
type Change struct {
	Op            byte
	Before, After int
}

// Changes reads a batch as a changelog. An append-only batch is all
// creates. In an updating batch (IsUpdating) a retraction immediately
// followed by an append becomes one update, as producers emit the two
// adjacently; a lone retraction is a delete and a lone append a create.
func Changes(b arrow.RecordBatch) []Change {
	var flags *array.Boolean
	if IsUpdating(b.Schema()) {
		flags, _ = b.Column(int(b.NumCols()) - 2).(*array.Boolean)
	}
	return ChangesOf(flags, int(b.NumRows()))
}

// ChangesOf is Changes given the n rows' retraction flags (nil: none).
func ChangesOf(flags *array.Boolean, n int) []Change {
	out := make([]Change, 0, n)
	for r := 0; r < n; r++ {
		if flags == nil || !flags.Value(r) {
			out = append(out, Change{Op: 'c', Before: -1, After: r})
			continue
		}
		if r+1 < n && !flags.Value(r+1) {
			out = append(out, Change{Op: 'u', Before: r, After: r + 1})
			r++
			continue
		}
		out = append(out, Change{Op: 'd', Before: r, After: -1})
	}
	return out
}
