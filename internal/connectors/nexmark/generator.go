package nexmark

import (
	"math"
	"math/bits"
	"strconv"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
)

// The Nexmark model. The proportions and ratios are those of the Nexmark
// reference generator. Two deliberate differences keep every reference
// valid: events are in order (no out-of-order groups), and the id "lead"
// that lets the reference generator name persons and auctions not yet
// created is zero, so a bid's auction and an auction's seller always exist
// before the event that names them.
const (
	personProportion  = 1
	auctionProportion = 3
	bidProportion     = 46
	totalProportion   = personProportion + auctionProportion + bidProportion

	firstPersonID   = 1000
	firstAuctionID  = 1000
	firstCategoryID = 10
	numCategories   = 5

	// Hot items are the first of each group of this many ids.
	hotGroup = 100
	// 1 in n auctions/bids picks a random seller/auction/bidder; the rest
	// pick a hot one.
	hotSellerRatio  = 4
	hotAuctionRatio = 2
	hotBidderRatio  = 4

	numInflightAuctions = 100
	numActivePeople     = 1000

	channelsNumber   = 10_000
	hotChannelsRatio = 2

	avgPersonBytes  = 200
	avgAuctionBytes = 500
	avgBidBytes     = 100

	minStringLength = 3
	// eventsForAuctions is how many events it takes to create
	// numInflightAuctions auctions; auctions last about that long.
	eventsForAuctions = numInflightAuctions * totalProportion / auctionProportion
)

// EventKind is what an event is.
type EventKind int

// Event kinds.
const (
	KindPerson EventKind = iota
	KindAuction
	KindBid
)

// KindOf is the kind of the event with the given number: of every 50
// consecutive events, the first is a person, the next three auctions, and
// the rest bids.
func KindOf(event uint64) EventKind {
	switch off := event % totalProportion; {
	case off < personProportion:
		return KindPerson
	case off < personProportion+auctionProportion:
		return KindAuction
	}
	return KindBid
}

// lastBase0PersonID is the 0-based id of the latest person created at or
// before event.
func lastBase0PersonID(event uint64) uint64 {
	return event / totalProportion * personProportion
}

// lastBase0AuctionID is the 0-based id of the latest auction created at
// or before event (for an event after the first auction).
func lastBase0AuctionID(event uint64) uint64 {
	epoch, off := event/totalProportion, event%totalProportion
	switch {
	case off < personProportion:
		epoch--
		off = auctionProportion - 1
	case off >= personProportion+auctionProportion:
		off = auctionProportion - 1
	default:
		off -= personProportion
	}
	return epoch*auctionProportion + off
}

func nextBase0PersonID(event uint64, r *rng) uint64 {
	n := lastBase0PersonID(event)
	active := min(n, numActivePeople)
	return n - active + r.intn(active+1)
}

func nextBase0AuctionID(event uint64, r *rng) uint64 {
	hi := lastBase0AuctionID(event)
	lo := hi - min(hi, numInflightAuctions)
	return lo + r.intn(hi-lo+1)
}

// rng is SplitMix64: tiny, fast, and seedable per event, which is what
// makes every event independent of the others.
type rng struct{ s uint64 }

func mix64(z uint64) uint64 {
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

func (r *rng) next() uint64 {
	r.s += 0x9e3779b97f4a7c15
	return mix64(r.s)
}

// intn returns a number in [0, n) (Lemire's multiply-shift; the bias is
// below 2^-40 for the small n used here).
func (r *rng) intn(n uint64) uint64 {
	hi, _ := bits.Mul64(r.next(), n)
	return hi
}

func (r *rng) float() float64 { return float64(r.next()>>11) * 0x1p-53 }

var (
	firstNames  = [...]string{"Peter", "Paul", "Luke", "John", "Saul", "Vicky", "Kate", "Julie", "Sarah", "Deiter", "Walter"}
	lastNames   = [...]string{"Shultz", "Abrams", "Spencer", "White", "Bartels", "Walton", "Smith", "Jones", "Noris"}
	usCities    = [...]string{"Phoenix", "Los Angeles", "San Francisco", "Boise", "Portland", "Bend", "Redmond", "Seattle", "Kent", "Cheyenne"}
	usStates    = [...]string{"AZ", "CA", "ID", "OR", "WA", "WY"}
	hotChannels = [...]string{"Google", "Facebook", "Baidu", "Apple"}
	hotURLs     = [...]string{
		"https://www.nexmark.com/abo/eoci/cidro/item.htm?query=1",
		"https://www.nexmark.com/eoax/oad/cidro/item.htm?query=1",
		"https://www.nexmark.com/abo/jack/cidro/item.htm?query=1",
		"https://www.nexmark.com/abo/micah/cidro/item.htm?query=1",
	}
	// fullNames are the first×last combinations, built once so that a
	// person's name costs no allocation.
	fullNames = func() []string {
		out := make([]string, 0, len(firstNames)*len(lastNames))
		for _, f := range firstNames {
			for _, l := range lastNames {
				out = append(out, f+" "+l)
			}
		}
		return out
	}()
)

const alphanumeric = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

// poolSize is the size of the random text that random strings are cut
// from: copying a slice of it is much cheaper than drawing every byte.
const poolSize = 1 << 16

// Salts separate the random streams derived from one seed.
const (
	saltEvent   = 0x6e65786d61726b01
	saltPool    = 0x6e65786d61726b02
	saltChannel = 0x6e65786d61726b03
)

// channel locates a non-hot channel's name and URL in Generator.chanText.
// It holds no pointers, so the 10,000 of them cost the GC nothing.
type channel struct {
	start           int32
	nameLen, urlLen uint16
}

// Generator makes Nexmark events as Arrow record batches. The content of
// event n depends only on the seed, the first event time, the event-time
// rate and n. A Generator is not safe for concurrent use.
type Generator struct {
	schema   *arrow.Schema
	key      uint64
	baseNs   int64
	delayNs  float64
	pool     []byte
	channels []channel // filled lazily; zero start+len means not yet
	chanText []byte
	scratch  []byte
	b        batch
	skip     Skips
	// consts holds all-NULL and all-empty columns for what is skipped,
	// built once and sliced for each batch.
	consts map[string]arrow.Array
}

// Skips lists what a generator need not make because the query does not
// read it: the person, auction or bid column (left NULL in every row), or
// a string field of bids (left empty). Events keep their numbers and every
// value that is made is the same as without skips.
type Skips struct {
	Person, Auction, Bid         bool
	BidChannel, BidURL, BidExtra bool
}

// NewGenerator returns a generator whose event 0 happens at first and
// whose event time advances by 1/eventTimeRate seconds per event. Batches
// have the given schema (Schema()).
func NewGenerator(seed int64, first time.Time, eventTimeRate float64, schema *arrow.Schema) *Generator {
	key := mix64(uint64(seed) ^ saltEvent)
	g := &Generator{
		schema:   schema,
		key:      key,
		baseNs:   first.UnixNano(),
		delayNs:  1e9 / eventTimeRate,
		pool:     make([]byte, poolSize),
		channels: make([]channel, channelsNumber),
		scratch:  make([]byte, 0, 64),
	}
	r := rng{s: mix64(uint64(seed) ^ saltPool)}
	for i := range g.pool {
		g.pool[i] = alphanumeric[r.intn(uint64(len(alphanumeric)))]
	}
	return g
}

// EventTime is the event time of event n.
func (g *Generator) EventTime(n uint64) time.Time {
	return time.Unix(0, g.eventNs(n)).UTC()
}

func (g *Generator) eventNs(n uint64) int64 {
	return g.baseNs + int64(float64(n)*g.delayNs)
}

// Batch generates the n events first, first+stride, first+2*stride, …
// as one record batch.
func (g *Generator) Batch(first, stride uint64, n int) arrow.RecordBatch {
	b := &g.b
	b.reset(n)
	ev := first
	for row := 0; row < n; row++ {
		r := rng{s: mix64(g.key ^ ev)}
		ns := g.eventNs(ev)
		b.ts[row] = ns / 1000
		switch KindOf(ev) {
		case KindPerson:
			if !g.skip.Person {
				g.person(row, ev, &r, ns)
			}
		case KindAuction:
			if !g.skip.Auction {
				g.auction(row, ev, &r, ns)
			}
		default:
			if !g.skip.Bid {
				g.bid(row, ev, &r, ns)
			}
		}
		ev += stride
	}
	return b.finish(g)
}

// randomString cuts a string of length [3, maxLen) from the pool.
func (g *Generator) randomString(r *rng, maxLen int) []byte {
	return g.poolBytes(r, minStringLength+int(r.intn(uint64(maxLen-minStringLength))))
}

func (g *Generator) poolBytes(r *rng, n int) []byte {
	off := int(r.intn(uint64(len(g.pool) - n + 1)))
	return g.pool[off : off+n]
}

// extraBytes pads an event to about avg bytes, as the reference
// generator does: the remaining size ±20%.
func (g *Generator) extraBytes(r *rng, current, avg int) []byte {
	if current > avg {
		return nil
	}
	want := avg - current
	delta := int(math.Round(float64(want) * 0.2))
	size := want - delta
	if delta > 0 {
		size += int(r.intn(uint64(2 * delta)))
	}
	return g.poolBytes(r, size)
}

// nextPrice is 100·10^x cents for x uniform in [0, 6), as in the reference
// generator. 10^x is a table lookup for x's first 6 bits after the point
// and a cubic for the rest (relative error < 1e-7): math.Pow was the
// single largest cost of a bid.
func nextPrice(r *rng) int64 {
	x := r.float() * 6 * priceSteps
	i := int(x)
	y := (x - float64(i)) * (math.Ln10 / priceSteps)
	return int64(pow10Steps[i] * (1 + y*(1+y*(0.5+y*(1.0/6)))))
}

const priceSteps = 64

// pow10Steps[i] is 100·10^(i/priceSteps).
var pow10Steps = func() (t [6 * priceSteps]float64) {
	for i := range t {
		t[i] = 100 * math.Pow(10, float64(i)/priceSteps)
	}
	return t
}()

func (g *Generator) person(row int, ev uint64, r *rng, ns int64) {
	p := &g.b.person
	p.valid.set(row)
	p.id[row] = int64(lastBase0PersonID(ev) + firstPersonID)
	p.datetime[row] = ns / 1000

	name := fullNames[r.intn(uint64(len(fullNames)))]
	p.name.setString(row, name)

	s := g.scratch[:0]
	s = append(s, g.randomString(r, 7)...)
	s = append(s, '@')
	s = append(s, g.randomString(r, 5)...)
	s = append(s, ".com"...)
	p.email.set(row, s)
	size := len(s)

	s = s[:0]
	for i := 0; i < 4; i++ {
		if i > 0 {
			s = append(s, ' ')
		}
		v := r.intn(10000)
		s = append(s, byte('0'+v/1000), byte('0'+v/100%10), byte('0'+v/10%10), byte('0'+v%10))
	}
	p.creditCard.set(row, s)
	size += len(s)
	g.scratch = s

	city := usCities[r.intn(uint64(len(usCities)))]
	state := usStates[r.intn(uint64(len(usStates)))]
	p.city.setString(row, city)
	p.state.setString(row, state)
	size += 8 + len(name) + len(city) + len(state)
	p.extra.set(row, g.extraBytes(r, size, avgPersonBytes))
}

func (g *Generator) auction(row int, ev uint64, r *rng, ns int64) {
	a := &g.b.auction
	a.valid.set(row)
	a.id[row] = int64(lastBase0AuctionID(ev) + firstAuctionID)

	var seller uint64
	if r.intn(hotSellerRatio) > 0 {
		seller = lastBase0PersonID(ev) / hotGroup * hotGroup
	} else {
		seller = nextBase0PersonID(ev, r)
	}
	a.seller[row] = int64(seller + firstPersonID)
	a.category[row] = int64(firstCategoryID + r.intn(numCategories))
	initial := nextPrice(r)
	a.initialBid[row] = initial
	a.reserve[row] = initial + nextPrice(r)

	// Auctions last about as long as it takes to create the next
	// numInflightAuctions auctions.
	horizon := uint64(g.eventNs(ev+eventsForAuctions) - ns)
	length := 1 + max(int64(r.intn(1+2*horizon)), 1)
	a.datetime[row] = ns / 1000
	a.expires[row] = (ns + length) / 1000

	name := g.randomString(r, 20)
	a.itemName.set(row, name)
	desc := g.randomString(r, 100)
	a.description.set(row, desc)
	a.extra.set(row, g.extraBytes(r, 8+len(name)+len(desc)+8*5, avgAuctionBytes))
}

func (g *Generator) bid(row int, ev uint64, r *rng, ns int64) {
	b := &g.b.bid
	b.valid.set(row)

	var auction uint64
	if r.intn(hotAuctionRatio) > 0 {
		auction = lastBase0AuctionID(ev) / hotGroup * hotGroup
	} else {
		auction = nextBase0AuctionID(ev, r)
	}
	b.auction[row] = int64(auction + firstAuctionID)

	var bidder uint64
	if r.intn(hotBidderRatio) > 0 {
		bidder = lastBase0PersonID(ev) / hotGroup * hotGroup
	} else {
		bidder = nextBase0PersonID(ev, r)
	}
	b.bidder[row] = int64(bidder + firstPersonID)
	b.price[row] = nextPrice(r)
	b.datetime[row] = ns / 1000

	// The random draws happen whether or not their strings are skipped,
	// so that the draws after them do not change.
	if r.intn(hotChannelsRatio) > 0 {
		i := r.intn(uint64(len(hotChannels)))
		if !g.skip.BidChannel {
			b.channel.setString(row, hotChannels[i])
		}
		if !g.skip.BidURL {
			b.url.setString(row, hotURLs[i])
		}
	} else {
		c := r.intn(channelsNumber)
		if !g.skip.BidChannel || !g.skip.BidURL {
			name, url := g.channel(c)
			if !g.skip.BidChannel {
				b.channel.set(row, name)
			}
			if !g.skip.BidURL {
				b.url.set(row, url)
			}
		}
	}
	if !g.skip.BidExtra {
		b.extra.set(row, g.extraBytes(r, 32, avgBidBytes))
	}
}

// channel returns the name and URL of a non-hot channel, made from the
// seed and the channel number only.
func (g *Generator) channel(c uint64) (name, url []byte) {
	ch := &g.channels[c]
	if ch.nameLen == 0 {
		r := rng{s: mix64(g.key ^ saltChannel ^ (c << 24))}
		t := g.chanText
		start := len(t)
		t = strconv.AppendUint(append(t, "channel-"...), c, 10)
		nameEnd := len(t)
		t = append(t, "https://www.nexmark.com/"...)
		t = append(append(t, g.randomString(&r, 5)...), '/')
		t = append(append(t, g.randomString(&r, 5)...), '/')
		t = append(append(t, g.randomString(&r, 5)...), "/item.htm?query=1"...)
		if r.intn(10) > 0 {
			t = strconv.AppendUint(append(t, "&channel_id="...), c, 10)
		}
		g.chanText = t
		*ch = channel{start: int32(start), nameLen: uint16(nameEnd - start), urlLen: uint16(len(t) - nameEnd)}
	}
	s := int(ch.start)
	mid := s + int(ch.nameLen)
	return g.chanText[s:mid], g.chanText[mid : mid+int(ch.urlLen)]
}
