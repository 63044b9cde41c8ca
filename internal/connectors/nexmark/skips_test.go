package nexmark

import (
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/array"
)

// With skips, the generator leaves the skipped columns NULL and the
// skipped bid strings empty, and makes everything else exactly as
// without them.
func TestSkips(t *testing.T) {
	full := NewGenerator(7, time.Unix(0, 0), DefaultEventTimeRate, Schema())
	part := NewGenerator(7, time.Unix(0, 0), DefaultEventTimeRate, Schema())
	part.skip = Skips{Person: true, Auction: true, BidChannel: true, BidURL: true}
	for _, n := range []int{4096, 1000, 4096, 5000} {
		a := full.Batch(uint64(n), 1, n)
		b := part.Batch(uint64(n), 1, n)
		only := NewGenerator(7, time.Unix(0, 0), DefaultEventTimeRate, Schema())
		only.skip = Skips{Auction: true, Bid: true}
		if c := only.Batch(0, 1, 4096); c.Column(2).NullN() != 4096 || c.Column(1).NullN() != 4096 || c.Column(0).NullN() != 4096-82 {
			t.Fatalf("bid/auction/person nulls %d/%d/%d", c.Column(2).NullN(), c.Column(1).NullN(), c.Column(0).NullN())
		}
		if b.Column(0).NullN() != n || b.Column(1).NullN() != n {
			t.Fatalf("person/auction nulls %d/%d of %d", b.Column(0).NullN(), b.Column(1).NullN(), n)
		}
		ab, bb := a.Column(2).(*array.Struct), b.Column(2).(*array.Struct)
		for r := 0; r < n; r++ {
			if ab.IsNull(r) != bb.IsNull(r) {
				t.Fatalf("row %d: bid validity differs", r)
			}
			if ab.IsNull(r) {
				continue
			}
			for _, f := range []int{0, 1, 2, 5, 6} { // auction, bidder, price, datetime, extra
				if x, y := ab.Field(f).ValueStr(r), bb.Field(f).ValueStr(r); x != y {
					t.Fatalf("row %d field %d: %q vs %q", r, f, x, y)
				}
			}
			for _, f := range []int{3, 4} { // channel, url
				if s := bb.Field(f).(*array.String).Value(r); s != "" {
					t.Fatalf("row %d field %d: %q, want empty", r, f, s)
				}
			}
		}
		if x, y := a.Column(3).(*array.Timestamp).Value(n-1), b.Column(3).(*array.Timestamp).Value(n-1); x != y {
			t.Fatalf("timestamps differ: %v vs %v", x, y)
		}
		a.Release()
		b.Release()
	}
}
