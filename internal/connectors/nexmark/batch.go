package nexmark

import (
	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/runnel-dev/runnel/internal/engine/expr"
)

// The batch is built straight into Go slices that become the Arrow
// buffers, rather than through array builders: most rows are null in two
// of the three struct columns, and zeroed slices give those rows their
// placeholder values for free, with no per-value calls. The slices are
// fresh for every batch because the batch's arrays own them afterwards.

// strCol is a string column being built. Rows are written in increasing
// order, possibly with gaps; the rows skipped over are empty strings.
type strCol struct {
	offs []int32 // offs[i] is where row i starts; set for rows <= next
	data []byte
	next int // rows before next are written
}

func (c *strCol) reset(n, bytesPerRow int) {
	c.offs = make([]int32, n+1)
	c.data = make([]byte, 0, n*bytesPerRow+16)
	c.next = 0
}

// pad makes rows next..row-1 empty.
func (c *strCol) pad(row int) {
	end := int32(len(c.data))
	for i := c.next + 1; i <= row; i++ {
		c.offs[i] = end
	}
}

func (c *strCol) set(row int, s []byte) {
	c.pad(row)
	c.data = append(c.data, s...)
	c.offs[row+1] = int32(len(c.data))
	c.next = row + 1
}

func (c *strCol) setString(row int, s string) {
	c.pad(row)
	c.data = append(c.data, s...)
	c.offs[row+1] = int32(len(c.data))
	c.next = row + 1
}

func (c *strCol) arrayData(n int) arrow.ArrayData {
	c.pad(n)
	c.next = n
	return array.NewData(arrow.BinaryTypes.String, n, []*memory.Buffer{
		nil,
		memory.NewBufferBytes(arrow.Int32Traits.CastToBytes(c.offs[:n+1])),
		memory.NewBufferBytes(c.data),
	}, nil, 0, 0)
}

func int64Data(t arrow.DataType, v []int64) arrow.ArrayData {
	return array.NewData(t, len(v), []*memory.Buffer{nil, memory.NewBufferBytes(arrow.Int64Traits.CastToBytes(v))}, nil, 0, 0)
}

func int64Array(t arrow.DataType, v []int64) arrow.Array {
	d := int64Data(t, v)
	defer d.Release()
	return array.MakeFromData(d)
}

func newBitmap(n int) []byte { return make([]byte, (n+7)/8) }

// structArray assembles a nullable struct column from its validity bitmap
// and children, taking ownership of the children.
func structArray(t arrow.DataType, n int, valid []byte, count int, children []arrow.ArrayData) arrow.Array {
	var vb *memory.Buffer
	if count < n {
		vb = memory.NewBufferBytes(valid)
	}
	d := array.NewData(t, n, []*memory.Buffer{vb}, children, n-count, 0)
	for _, c := range children {
		c.Release()
	}
	a := array.MakeFromData(d)
	d.Release()
	return a
}

var timestampType = expr.Timestamp

type personCols struct {
	valid                                       []byte
	count                                       int
	id, datetime                                []int64
	name, email, creditCard, city, state, extra strCol
}

func (p *personCols) reset(n int) {
	// Persons are 1 in 50 rows: size the text for that.
	k := n/totalProportion + 1
	p.valid, p.count = newBitmap(n), 0
	p.id, p.datetime = make([]int64, n), make([]int64, n)
	p.name.reset(n, 0)
	p.name.data = make([]byte, 0, k*16)
	p.email.reset(n, 0)
	p.email.data = make([]byte, 0, k*16)
	p.creditCard.reset(n, 0)
	p.creditCard.data = make([]byte, 0, k*19)
	p.city.reset(n, 0)
	p.state.reset(n, 0)
	p.extra.reset(n, 0)
	p.extra.data = make([]byte, 0, k*avgPersonBytes)
}

func (p *personCols) array(n int) arrow.Array {
	return structArray(PersonType, n, p.valid, p.count, []arrow.ArrayData{
		int64Data(arrow.PrimitiveTypes.Int64, p.id),
		p.name.arrayData(n),
		p.email.arrayData(n),
		p.creditCard.arrayData(n),
		p.city.arrayData(n),
		p.state.arrayData(n),
		int64Data(timestampType, p.datetime),
		p.extra.arrayData(n),
	})
}

type auctionCols struct {
	valid                                                        []byte
	count                                                        int
	id, initialBid, reserve, datetime, expires, seller, category []int64
	itemName, description, extra                                 strCol
}

func (a *auctionCols) reset(n int) {
	k := n*auctionProportion/totalProportion + 1
	a.valid, a.count = newBitmap(n), 0
	for _, v := range []*[]int64{&a.id, &a.initialBid, &a.reserve, &a.datetime, &a.expires, &a.seller, &a.category} {
		*v = make([]int64, n)
	}
	a.itemName.reset(n, 0)
	a.itemName.data = make([]byte, 0, k*20)
	a.description.reset(n, 0)
	a.description.data = make([]byte, 0, k*100)
	a.extra.reset(n, 0)
	a.extra.data = make([]byte, 0, k*avgAuctionBytes)
}

func (a *auctionCols) array(n int) arrow.Array {
	return structArray(AuctionType, n, a.valid, a.count, []arrow.ArrayData{
		int64Data(arrow.PrimitiveTypes.Int64, a.id),
		a.itemName.arrayData(n),
		a.description.arrayData(n),
		int64Data(arrow.PrimitiveTypes.Int64, a.initialBid),
		int64Data(arrow.PrimitiveTypes.Int64, a.reserve),
		int64Data(timestampType, a.datetime),
		int64Data(timestampType, a.expires),
		int64Data(arrow.PrimitiveTypes.Int64, a.seller),
		int64Data(arrow.PrimitiveTypes.Int64, a.category),
		a.extra.arrayData(n),
	})
}

type bidCols struct {
	valid                            []byte
	count                            int
	auction, bidder, price, datetime []int64
	channel, url, extra              strCol
}

func (b *bidCols) reset(n int) {
	b.valid, b.count = newBitmap(n), 0
	b.auction, b.bidder, b.price, b.datetime = make([]int64, n), make([]int64, n), make([]int64, n), make([]int64, n)
	b.channel.reset(n, 12)
	b.url.reset(n, 64)
	b.extra.reset(n, avgBidBytes-32+14)
}

func (b *bidCols) array(n int) arrow.Array {
	return structArray(BidType, n, b.valid, b.count, []arrow.ArrayData{
		int64Data(arrow.PrimitiveTypes.Int64, b.auction),
		int64Data(arrow.PrimitiveTypes.Int64, b.bidder),
		int64Data(arrow.PrimitiveTypes.Int64, b.price),
		b.channel.arrayData(n),
		b.url.arrayData(n),
		int64Data(timestampType, b.datetime),
		b.extra.arrayData(n),
	})
}

type batch struct {
	n       int
	ts      []int64
	person  personCols
	auction auctionCols
	bid     bidCols
}

func (b *batch) reset(n int) {
	b.n = n
	b.ts = make([]int64, n)
	b.person.reset(n)
	b.auction.reset(n)
	b.bid.reset(n)
}

func (b *batch) finish(schema *arrow.Schema) arrow.RecordBatch {
	n := b.n
	cols := []arrow.Array{
		b.person.array(n),
		b.auction.array(n),
		b.bid.array(n),
		int64Array(timestampType, b.ts),
	}
	rec := array.NewRecordBatch(schema, cols, int64(n))
	for _, c := range cols {
		c.Release()
	}
	*b = batch{}
	return rec
}
