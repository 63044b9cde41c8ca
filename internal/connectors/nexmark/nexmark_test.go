package nexmark

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/runnel-dev/runnel/internal/connectors"
	"github.com/runnel-dev/runnel/internal/engine"
)

// event is one decoded row.
type event struct {
	Kind    EventKind
	TS      int64 // event-time column, µs
	Person  person
	Auction auction
	Bid     bid
}

type person struct {
	ID                                      int64
	Name, Email, CreditCard, City, State, X string
	Datetime                                int64
}

type auction struct {
	ID                                                       int64
	ItemName, Description                                    string
	InitialBid, Reserve, Datetime, Expires, Seller, Category int64
	X                                                        string
}

type bid struct {
	Auction, Bidder, Price int64
	Channel, URL           string
	Datetime               int64
	X                      string
}

func i64(s *array.Struct, f, r int) int64 {
	switch a := s.Field(f).(type) {
	case *array.Int64:
		return a.Value(r)
	case *array.Timestamp:
		return int64(a.Value(r))
	}
	panic(fmt.Sprintf("field %d is %T", f, s.Field(f)))
}

func str(s *array.Struct, f, r int) string { return s.Field(f).(*array.String).Value(r) }

// decode turns a batch into events, checking that exactly one of the
// three struct columns is set per row.
func decode(t testing.TB, b arrow.RecordBatch) []event {
	t.Helper()
	if err := array.ValidateRecordFull(b); err != nil {
		t.Fatalf("invalid batch: %v", err)
	}
	if !b.Schema().Equal(Schema()) {
		t.Fatalf("schema %s, want %s", b.Schema(), Schema())
	}
	p, a, bd := b.Column(0).(*array.Struct), b.Column(1).(*array.Struct), b.Column(2).(*array.Struct)
	ts := b.Column(3).(*array.Timestamp)
	out := make([]event, b.NumRows())
	for r := range out {
		e := &out[r]
		e.TS = int64(ts.Value(r))
		set := 0
		if p.IsValid(r) {
			set++
			e.Kind = KindPerson
			e.Person = person{i64(p, 0, r), str(p, 1, r), str(p, 2, r), str(p, 3, r), str(p, 4, r), str(p, 5, r), str(p, 7, r), i64(p, 6, r)}
		}
		if a.IsValid(r) {
			set++
			e.Kind = KindAuction
			e.Auction = auction{i64(a, 0, r), str(a, 1, r), str(a, 2, r), i64(a, 3, r), i64(a, 4, r), i64(a, 5, r), i64(a, 6, r), i64(a, 7, r), i64(a, 8, r), str(a, 9, r)}
		}
		if bd.IsValid(r) {
			set++
			e.Kind = KindBid
			e.Bid = bid{i64(bd, 0, r), i64(bd, 1, r), i64(bd, 2, r), str(bd, 3, r), str(bd, 4, r), i64(bd, 5, r), str(bd, 6, r)}
		}
		if set != 1 {
			t.Fatalf("row %d has %d non-null event columns", r, set)
		}
	}
	return out
}

func opts(kv ...string) *connectors.Options {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return connectors.NewOptions(m)
}

func table(t testing.TB, kv ...string) *connectors.Table {
	t.Helper()
	tbl, err := Connector{}.NewTable(connectors.TableSpec{Name: "n", Options: opts(kv...)})
	if err != nil {
		t.Fatalf("NewTable: %v", err)
	}
	return tbl
}

// run runs every subtask of a table to the end and returns each subtask's
// events in order.
func run(t testing.TB, tbl *connectors.Table, par int) [][]event {
	t.Helper()
	out := make([][]event, par)
	var wg sync.WaitGroup
	errs := make([]error, par)
	var mu sync.Mutex
	for s := 0; s < par; s++ {
		src, err := tbl.NewSource(engine.TaskInfo{JobID: "j", Subtask: s, Parallelism: par})
		if err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[s] = src.Run(context.Background(), make(chan struct{}), engine.CollectorFunc(func(_ context.Context, b arrow.RecordBatch) error {
				evs := decode(t, b)
				mu.Lock()
				out[s] = append(out[s], evs...)
				mu.Unlock()
				return nil
			}))
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestDeterministic(t *testing.T) {
	a := run(t, table(t, "events", "5000", "seed", "7"), 1)[0]
	b := run(t, table(t, "events", "5000", "seed", "7"), 1)[0]
	if len(a) != 5000 {
		t.Fatalf("got %d events, want 5000", len(a))
	}
	// The first event time is the run's start unless fixed, so compare
	// everything but times here; TestEventTime covers fixed times.
	strip := func(es []event) []event {
		out := slices.Clone(es)
		for i := range out {
			out[i].TS, out[i].Person.Datetime, out[i].Bid.Datetime = 0, 0, 0
			out[i].Auction.Expires -= out[i].Auction.Datetime
			out[i].Auction.Datetime = 0
		}
		return out
	}
	if !slices.Equal(strip(a), strip(b)) {
		t.Fatal("same seed gave different events")
	}
	c := run(t, table(t, "events", "5000", "seed", "8"), 1)[0]
	if slices.Equal(strip(a), strip(c)) {
		t.Fatal("different seeds gave the same events")
	}

	fixed := []string{"events", "3000", "seed", "3", "first_event_time", "2024-01-01T00:00:00Z"}
	x, y := run(t, table(t, fixed...), 2), run(t, table(t, fixed...), 2)
	if !slices.Equal(x[0], y[0]) || !slices.Equal(x[1], y[1]) {
		t.Fatal("same seed and first_event_time gave different rows")
	}
}

func TestParallelismIndependent(t *testing.T) {
	kv := []string{"events", "10007", "seed", "42", "first_event_time", "2024-01-01T00:00:00Z", "event_time_rate", "1000"}
	one := run(t, table(t, kv...), 1)[0]
	three := run(t, table(t, kv...), 3)
	var merged []event
	for s, evs := range three {
		// Subtask s makes events s, s+3, …: interleave them back.
		for k, e := range evs {
			if want := one[s+3*k]; e != want {
				t.Fatalf("subtask %d event %d differs from event %d of a single subtask:\n%+v\n%+v", s, k, s+3*k, e, want)
			}
		}
		merged = append(merged, evs...)
	}
	// The same multiset of events, whatever the parallelism.
	counts := map[event]int{}
	for _, e := range one {
		counts[e]++
	}
	for _, e := range merged {
		counts[e]--
	}
	for e, n := range counts {
		if n != 0 {
			t.Fatalf("event %+v: count differs by %d between parallelism 1 and 3", e, n)
		}
	}
	if len(merged) != len(one) {
		t.Fatalf("%d events with parallelism 3, %d with 1", len(merged), len(one))
	}
}

func TestProportionsAndIntegrity(t *testing.T) {
	evs := run(t, table(t, "events", "100000", "seed", "1", "first_event_time", "2024-01-01T00:00:00Z"), 1)[0]
	if len(evs) != 100000 {
		t.Fatalf("got %d events", len(evs))
	}
	persons, auctions := map[int64]bool{}, map[int64]bool{}
	ccRe := regexp.MustCompile(`^\d{4} \d{4} \d{4} \d{4}$`)
	emailRe := regexp.MustCompile(`^[A-Za-z0-9]{3,6}@[A-Za-z0-9]{3,4}\.com$`)
	lastTS := int64(-1 << 62)
	for i := 0; i < len(evs); i += totalProportion {
		var counts [3]int
		for _, e := range evs[i : i+totalProportion] {
			counts[e.Kind]++
		}
		if counts != [3]int{1, 3, 46} {
			t.Fatalf("events %d..%d: %d persons, %d auctions, %d bids; want 1, 3, 46", i, i+49, counts[0], counts[1], counts[2])
		}
	}
	hot := 0
	for i, e := range evs {
		if e.TS < lastTS {
			t.Fatalf("event %d goes back in time", i)
		}
		lastTS = e.TS
		switch e.Kind {
		case KindPerson:
			p := e.Person
			if persons[p.ID] {
				t.Fatalf("person %d created twice", p.ID)
			}
			persons[p.ID] = true
			if !ccRe.MatchString(p.CreditCard) || !emailRe.MatchString(p.Email) || !strings.Contains(p.Name, " ") ||
				p.City == "" || p.State == "" || p.Datetime != e.TS {
				t.Fatalf("bad person %+v", p)
			}
		case KindAuction:
			a := e.Auction
			if auctions[a.ID] {
				t.Fatalf("auction %d created twice", a.ID)
			}
			auctions[a.ID] = true
			if !persons[a.Seller] {
				t.Fatalf("event %d: auction %d names seller %d, who does not exist yet", i, a.ID, a.Seller)
			}
			if a.Category < 10 || a.Category > 14 || a.InitialBid < 100 || a.Reserve < a.InitialBid ||
				a.Expires <= a.Datetime-1 || a.Datetime != e.TS || len(a.ItemName) < 3 || len(a.Description) < 3 {
				t.Fatalf("bad auction %+v", a)
			}
		case KindBid:
			b := e.Bid
			if !auctions[b.Auction] {
				t.Fatalf("event %d: bid names auction %d, which does not exist yet", i, b.Auction)
			}
			if !persons[b.Bidder] {
				t.Fatalf("event %d: bid names bidder %d, who does not exist yet", i, b.Bidder)
			}
			if b.Price < 100 || b.Price > 100_000_000 || b.Channel == "" || !strings.HasPrefix(b.URL, "https://www.nexmark.com/") ||
				b.Datetime != e.TS || len(b.X) < 54 || len(b.X) > 82 {
				t.Fatalf("bad bid %+v", b)
			}
			if (b.Auction-firstAuctionID)%hotGroup == 0 {
				hot++
			}
		}
	}
	// Half the bids go to hot auctions, plus the random ones that happen
	// to land on one.
	bids := len(evs) * bidProportion / totalProportion
	if hot < bids*45/100 || hot > bids*60/100 {
		t.Fatalf("%d of %d bids on hot auctions; want about half", hot, bids)
	}
	if len(persons) != 2000 || len(auctions) != 6000 {
		t.Fatalf("%d persons, %d auctions", len(persons), len(auctions))
	}
}

func TestEventTime(t *testing.T) {
	evs := run(t, table(t, "events", "200", "first_event_time", "2024-03-01T12:00:00Z", "event_time_rate", "100"), 1)[0]
	base := time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC).UnixMicro()
	for n, e := range evs {
		// 100 events per second: 10 ms apart.
		if want := base + int64(n)*10_000; e.TS != want {
			t.Fatalf("event %d at %d, want %d", n, e.TS, want)
		}
	}
	// The event rate sets the event-time rate unless given.
	cfg, err := ParseConfig(opts("event_rate", "250"))
	if err != nil || cfg.EventTimeRate != 250 {
		t.Fatalf("event-time rate %v, %v", cfg.EventTimeRate, err)
	}
	cfg, err = ParseConfig(opts())
	if err != nil || cfg.EventTimeRate != DefaultEventTimeRate || cfg.TotalEvents() != -1 {
		t.Fatalf("defaults: %+v, %v", cfg, err)
	}
}

func TestBounded(t *testing.T) {
	for _, tc := range []struct {
		kv   []string
		par  int
		want int
	}{
		{[]string{"events", "0"}, 2, 0},
		{[]string{"events", "1"}, 4, 1},
		{[]string{"events", "9000"}, 4, 9000},
		{[]string{"event_rate", "20000", "runtime", "0.1"}, 2, 2000},
		{[]string{"event_rate", "20000", "runtime", "10", "events", "500"}, 3, 500},
	} {
		t.Run(strings.Join(tc.kv, "="), func(t *testing.T) {
			got := 0
			for _, evs := range run(t, table(t, tc.kv...), tc.par) {
				got += len(evs)
			}
			if got != tc.want {
				t.Fatalf("got %d events, want %d", got, tc.want)
			}
		})
	}
	t.Run("unthrottled runtime", func(t *testing.T) {
		start := time.Now()
		evs := run(t, table(t, "runtime", "0.2"), 2)
		if d := time.Since(start); d < 200*time.Millisecond || d > time.Minute {
			t.Fatalf("ran for %s", d)
		}
		if len(evs[0]) == 0 {
			t.Fatal("no events")
		}
	})
}

func TestRateLimited(t *testing.T) {
	// 1000 events at 2000/s: the last is due 0.4995 s after the start, so
	// the run cannot take less; the upper bound is only a sanity check.
	start := time.Now()
	evs := run(t, table(t, "event_rate", "2000", "events", "1000"), 2)
	d := time.Since(start)
	if n := len(evs[0]) + len(evs[1]); n != 1000 {
		t.Fatalf("%d events", n)
	}
	if d < 490*time.Millisecond || d > 30*time.Second {
		t.Fatalf("1000 events at 2000/s took %s", d)
	}
}

func TestStop(t *testing.T) {
	tbl := table(t)
	src, err := tbl.NewSource(engine.TaskInfo{Parallelism: 1})
	if err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	var rows int64
	err = src.Run(context.Background(), stop, engine.CollectorFunc(func(_ context.Context, b arrow.RecordBatch) error {
		if rows += b.NumRows(); rows >= 3*MaxBatchRows {
			select {
			case <-stop:
			default:
				close(stop)
			}
		}
		return nil
	}))
	if err != nil || rows != 3*MaxBatchRows {
		t.Fatalf("err %v after %d rows", err, rows)
	}

	ctx, cancel := context.WithCancel(context.Background())
	err = src.Run(ctx, make(chan struct{}), engine.CollectorFunc(func(context.Context, arrow.RecordBatch) error {
		cancel()
		return nil
	}))
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled run returned %v", err)
	}
}

func TestOptionErrors(t *testing.T) {
	for _, tc := range []struct {
		kv  []string
		key string
	}{
		{[]string{"event_rate", "fast"}, "event_rate"},
		{[]string{"event_rate", "-1"}, "event_rate"},
		{[]string{"runtime", "0"}, "runtime"},
		{[]string{"runtime", "x"}, "runtime"},
		{[]string{"events", "-5"}, "events"},
		{[]string{"events", "1.5"}, "events"},
		{[]string{"seed", "abc"}, "seed"},
		{[]string{"first_event_time", "yesterday"}, "first_event_time"},
		{[]string{"event_time_rate", "0"}, "event_time_rate"},
	} {
		_, err := Connector{}.NewTable(connectors.TableSpec{Name: "n", Options: opts(tc.kv...)})
		var oe *connectors.OptionError
		if !errors.As(err, &oe) || oe.Key != tc.key {
			t.Errorf("%v: got %v, want an option error on %s", tc.kv, err, tc.key)
		}
	}
	o := opts("event_rate", "10", "bogus", "1")
	if _, err := (Connector{}).NewTable(connectors.TableSpec{Name: "n", Options: o}); err != nil {
		t.Fatal(err)
	}
	if u := o.Unused(); !slices.Equal(u, []string{"bogus"}) {
		t.Fatalf("unused options %v", u)
	}
	_, err := Connector{}.NewTable(connectors.TableSpec{Name: "n", Options: opts(), Columns: []connectors.Column{{Name: "x", Type: arrow.PrimitiveTypes.Int64}}})
	if err == nil || !strings.Contains(err.Error(), "fixed schema") {
		t.Fatalf("declared columns: %v", err)
	}
}

func TestDescriptor(t *testing.T) {
	d := Connector{}.Descriptor()
	if d.ID != "nexmark" || !d.Source || d.Sink || !strings.HasPrefix(d.TableConfig, "{") {
		t.Fatalf("%+v", d)
	}
	if _, ok := connectors.Default().Lookup("nexmark"); !ok {
		t.Fatal("not registered")
	}
}

// BenchmarkGenerator measures raw generation into Arrow batches.
func BenchmarkGenerator(b *testing.B) {
	g := NewGenerator(1, time.Unix(0, 0), DefaultEventTimeRate, Schema())
	b.ReportAllocs()
	var n uint64
	start := time.Now()
	for b.Loop() {
		rec := g.Batch(n, 1, MaxBatchRows)
		rec.Release()
		n += MaxBatchRows
	}
	b.ReportMetric(float64(n)/time.Since(start).Seconds(), "events/s")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(n), "ns/event")
}
