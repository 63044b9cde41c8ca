package nexmark

import (
	"slices"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/runnel-dev/runnel/internal/engine/expr"
)

// Rows are generated into scratch slices that the generator keeps from
// batch to batch (so they stay in cache), and each finished batch gets
// exact-size copies as its Arrow buffers. Copying with slices.Clone
// allocates without zeroing, and the batch owns its memory outright, so
// nothing downstream can see a buffer change under it. Building through
// array builders instead costs a call per value, and most rows are null in
// two of the three struct columns.

var timestampType = expr.Timestamp

// strCol is a string column being built. Rows are written in increasing
// order, possibly with gaps; the rows skipped over are empty strings.
type strCol struct {
	offs []int32 // offs[i] is where row i starts; set for rows <= next
	data []byte
	size int
	next int // rows before next are written
}

func (c *strCol) reset(n int) {
	if cap(c.offs) < n+1 {
		c.offs = make([]int32, n+1)
	}
	c.offs = c.offs[:n+1]
	c.offs[0] = 0
	c.size, c.next = 0, 0
}

// pad makes rows next..row-1 empty.
func (c *strCol) pad(row int) {
	end := int32(c.size)
	for i := c.next + 1; i <= row; i++ {
		c.offs[i] = end
	}
}

func (c *strCol) grow(n int) {
	d := make([]byte, 2*len(c.data)+n+1024)
	copy(d, c.data[:c.size])
	c.data = d
}

func (c *strCol) set(row int, s []byte) {
	c.pad(row)
	if c.size+len(s) > len(c.data) {
		c.grow(len(s))
	}
	c.size += copy(c.data[c.size:], s)
	c.offs[row+1] = int32(c.size)
	c.next = row + 1
}

func (c *strCol) setString(row int, s string) {
	c.pad(row)
	if c.size+len(s) > len(c.data) {
		c.grow(len(s))
	}
	c.size += copy(c.data[c.size:], s)
	c.offs[row+1] = int32(c.size)
	c.next = row + 1
}

func (c *strCol) arrayData(n int) arrow.ArrayData {
	c.pad(n)
	c.next = n
	return array.NewData(arrow.BinaryTypes.String, n, []*memory.Buffer{
		nil,
		memory.NewBufferBytes(arrow.Int32Traits.CastToBytes(slices.Clone(c.offs[:n+1]))),
		memory.NewBufferBytes(slices.Clone(c.data[:c.size])),
	}, nil, 0, 0)
}

// i64Col is an int64 or timestamp column. Rows not written stay zero.
type i64Col []int64

func (c *i64Col) reset(n int) {
	if cap(*c) < n {
		*c = make([]int64, n)
	}
	*c = (*c)[:n]
}

// arrayData copies the column out and zeroes the scratch for the next
// batch.
func (c i64Col) arrayData(t arrow.DataType) arrow.ArrayData {
	d := array.NewData(t, len(c), []*memory.Buffer{nil, memory.NewBufferBytes(arrow.Int64Traits.CastToBytes(slices.Clone(c)))}, nil, 0, 0)
	clear(c)
	return d
}

// validity is a struct column's validity bitmap.
type validity struct {
	bits  []byte
	count int
}

func (v *validity) reset(n int) {
	if k := (n + 7) / 8; cap(v.bits) < k {
		v.bits = make([]byte, k)
	} else {
		v.bits = v.bits[:k]
	}
	v.count = 0
}

func (v *validity) set(row int) {
	v.bits[row>>3] |= 1 << (row & 7)
	v.count++
}

// structArray assembles a nullable struct column, taking ownership of the
// children.
func structArray(t arrow.DataType, n int, v *validity, children []arrow.ArrayData) arrow.Array {
	var vb *memory.Buffer
	if v.count < n {
		vb = memory.NewBufferBytes(slices.Clone(v.bits))
	}
	clear(v.bits)
	d := array.NewData(t, n, []*memory.Buffer{vb}, children, n-v.count, 0)
	for _, c := range children {
		c.Release()
	}
	a := array.MakeFromData(d)
	d.Release()
	return a
}

type personCols struct {
	valid                                       validity
	id, datetime                                i64Col
	name, email, creditCard, city, state, extra strCol
}

func (p *personCols) reset(n int) {
	p.valid.reset(n)
	p.id.reset(n)
	p.datetime.reset(n)
	for _, c := range []*strCol{&p.name, &p.email, &p.creditCard, &p.city, &p.state, &p.extra} {
		c.reset(n)
	}
}

func (p *personCols) array(n int) arrow.Array {
	return structArray(PersonType, n, &p.valid, []arrow.ArrayData{
		p.id.arrayData(arrow.PrimitiveTypes.Int64),
		p.name.arrayData(n),
		p.email.arrayData(n),
		p.creditCard.arrayData(n),
		p.city.arrayData(n),
		p.state.arrayData(n),
		p.datetime.arrayData(timestampType),
		p.extra.arrayData(n),
	})
}

type auctionCols struct {
	valid                                                        validity
	id, initialBid, reserve, datetime, expires, seller, category i64Col
	itemName, description, extra                                 strCol
}

func (a *auctionCols) reset(n int) {
	a.valid.reset(n)
	for _, c := range []*i64Col{&a.id, &a.initialBid, &a.reserve, &a.datetime, &a.expires, &a.seller, &a.category} {
		c.reset(n)
	}
	for _, c := range []*strCol{&a.itemName, &a.description, &a.extra} {
		c.reset(n)
	}
}

func (a *auctionCols) array(n int) arrow.Array {
	return structArray(AuctionType, n, &a.valid, []arrow.ArrayData{
		a.id.arrayData(arrow.PrimitiveTypes.Int64),
		a.itemName.arrayData(n),
		a.description.arrayData(n),
		a.initialBid.arrayData(arrow.PrimitiveTypes.Int64),
		a.reserve.arrayData(arrow.PrimitiveTypes.Int64),
		a.datetime.arrayData(timestampType),
		a.expires.arrayData(timestampType),
		a.seller.arrayData(arrow.PrimitiveTypes.Int64),
		a.category.arrayData(arrow.PrimitiveTypes.Int64),
		a.extra.arrayData(n),
	})
}

type bidCols struct {
	valid                            validity
	auction, bidder, price, datetime i64Col
	channel, url, extra              strCol
}

func (b *bidCols) reset(n int) {
	b.valid.reset(n)
	for _, c := range []*i64Col{&b.auction, &b.bidder, &b.price, &b.datetime} {
		c.reset(n)
	}
	for _, c := range []*strCol{&b.channel, &b.url, &b.extra} {
		c.reset(n)
	}
}

func (b *bidCols) array(n int, g *Generator) arrow.Array {
	str := func(c *strCol, skip bool, name string) arrow.ArrayData {
		if !skip {
			return c.arrayData(n)
		}
		a := g.constant(name, n, emptyStrings)
		d := a.Data()
		d.Retain()
		a.Release()
		return d
	}
	return structArray(BidType, n, &b.valid, []arrow.ArrayData{
		b.auction.arrayData(arrow.PrimitiveTypes.Int64),
		b.bidder.arrayData(arrow.PrimitiveTypes.Int64),
		b.price.arrayData(arrow.PrimitiveTypes.Int64),
		str(&b.channel, g.skip.BidChannel, "channel"),
		str(&b.url, g.skip.BidURL, "url"),
		b.datetime.arrayData(timestampType),
		str(&b.extra, g.skip.BidExtra, "extra"),
	})
}

// emptyStrings is a string column of n empty strings.
func emptyStrings(n int) arrow.Array {
	d := array.NewData(arrow.BinaryTypes.String, n, []*memory.Buffer{
		nil, memory.NewBufferBytes(make([]byte, 4*(n+1))), nil,
	}, nil, 0, 0)
	defer d.Release()
	return array.MakeFromData(d)
}

// constant returns the first n rows of the generator's constant column
// name, made by mk with at least MaxBatchRows rows.
func (g *Generator) constant(name string, n int, mk func(n int) arrow.Array) arrow.Array {
	a := g.consts[name]
	if a == nil || a.Len() < n {
		if a != nil {
			a.Release()
		}
		a = mk(max(n, MaxBatchRows))
		if g.consts == nil {
			g.consts = map[string]arrow.Array{}
		}
		g.consts[name] = a
	}
	return array.NewSlice(a, 0, int64(n))
}

func nullStructs(t arrow.DataType) func(n int) arrow.Array {
	return func(n int) arrow.Array { return array.MakeArrayOfNull(memory.DefaultAllocator, t, n) }
}

// batch is the generator's scratch space for one batch.
type batch struct {
	n       int
	ts      i64Col
	person  personCols
	auction auctionCols
	bid     bidCols
}

func (b *batch) reset(n int) {
	b.n = n
	b.ts.reset(n)
	b.person.reset(n)
	b.auction.reset(n)
	b.bid.reset(n)
}

func (b *batch) finish(g *Generator) arrow.RecordBatch {
	n := b.n
	ts := b.ts.arrayData(timestampType)
	var person, auction arrow.Array
	if g.skip.Person {
		person = g.constant("person", n, nullStructs(PersonType))
	} else {
		person = b.person.array(n)
	}
	if g.skip.Auction {
		auction = g.constant("auction", n, nullStructs(AuctionType))
	} else {
		auction = b.auction.array(n)
	}
	var bid arrow.Array
	if g.skip.Bid {
		bid = g.constant("bid", n, nullStructs(BidType))
	} else {
		bid = b.bid.array(n, g)
	}
	cols := []arrow.Array{
		person,
		auction,
		bid,
		array.MakeFromData(ts),
	}
	ts.Release()
	rec := array.NewRecordBatch(g.schema, cols, int64(n))
	for _, c := range cols {
		c.Release()
	}
	return rec
}
