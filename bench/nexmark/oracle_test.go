package nexmark_test

// The correctness oracle: each Nexmark query runs on the real planner and
// runtime over a fixed, bounded nexmark input into the collect sink; the
// same events go into SQLite (person, auction, bid tables straight from the
// generator), where the equivalent batch query runs; the two results must
// be the same multiset of rows (floats within a relative 1e-9). Updating
// queries (q4) produce a changelog, which is applied (folded) to get the
// final table first.

import (
	"context"
	"database/sql"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	_ "modernc.org/sqlite"

	"github.com/runnel-dev/runnel/bench/nexmark"
	"github.com/runnel-dev/runnel/internal/connectors"
	"github.com/runnel-dev/runnel/internal/connectors/collect"
	nxsrc "github.com/runnel-dev/runnel/internal/connectors/nexmark"
	"github.com/runnel-dev/runnel/internal/engine"
	rsql "github.com/runnel-dev/runnel/internal/sql"
)

// The fixed input: 50 000 events over 50 s of event time, so the 10 s
// tumbling and 2 s/10 s hopping windows hold several windows each.
const (
	oracleEvents   = 50_000
	oracleSeed     = 42
	oracleRate     = 1000 // events per second of event time
	oracleFirstRFC = "2024-01-01T00:00:00Z"
)

var oracleSource = nexmark.Source{
	Events: oracleEvents, Seed: oracleSeed, FirstEventTime: oracleFirstRFC, EventTimeRate: oracleRate,
}

// Window sizes in µs, as in the queries.
const (
	tumbleUs = 10_000_000
	hopSlide = 2_000_000
	hopWidth = 10_000_000
)

// oracleSQL is each query's batch equivalent over the SQLite tables.
// Windows are integer division of the event time (ts, µs); output column
// names are the streaming query's.
var oracleSQL = map[string]string{
	"q0": `SELECT auction, bidder, price, channel, url, datetime, extra FROM bid`,
	"q1": `SELECT auction, bidder, price * 0.908 AS price, datetime, extra FROM bid`,
	"q2": `SELECT auction, price FROM bid WHERE auction % 123 = 0`,
	"q3": `SELECT P.name AS name, P.city AS city, P.state AS state, A.id AS id
		FROM auction A JOIN person P ON A.seller = P.id
		WHERE A.category = 10 AND P.state IN ('OR', 'ID', 'CA')`,
	"q4": `SELECT category, avg(final) AS avg_final FROM (
			SELECT A.id AS id, A.category AS category, max(B.price) AS final
			FROM auction A JOIN bid B ON A.id = B.auction
			WHERE B.datetime BETWEEN A.datetime AND A.expires
			GROUP BY A.id, A.category)
		GROUP BY category`,
	// Every bid is in the width/slide hop windows starting at its slide
	// boundary and the ones before it.
	"q5": fmt.Sprintf(`WITH k(n) AS (SELECT 0 UNION ALL SELECT n + 1 FROM k WHERE n + 1 < %[3]d),
		counts AS (
			SELECT auction, (ts / %[1]d) * %[1]d - k.n * %[1]d AS ws, count(*) AS num
			FROM bid, k GROUP BY 1, 2),
		ranked AS (
			SELECT auction, num, ws, ROW_NUMBER() OVER (PARTITION BY ws ORDER BY num DESC, auction ASC) AS rn
			FROM counts)
		SELECT auction, num, ws AS window_start, ws + %[2]d AS window_end FROM ranked WHERE rn = 1`,
		hopSlide, hopWidth, hopWidth/hopSlide),
	"q7": fmt.Sprintf(`WITH b AS (SELECT DISTINCT auction, price, bidder, (ts / %[1]d) * %[1]d AS ws FROM bid),
		m AS (SELECT ws, max(price) AS maxprice FROM b GROUP BY ws)
		SELECT b.auction AS auction, b.price AS price, b.bidder AS bidder,
		       b.ws AS window_start, b.ws + %[1]d AS window_end
		FROM b JOIN m ON b.ws = m.ws AND b.price = m.maxprice`, tumbleUs),
	"q8": fmt.Sprintf(`WITH p AS (SELECT DISTINCT id, name, (ts / %[1]d) * %[1]d AS ws FROM person),
		a AS (SELECT DISTINCT seller, (ts / %[1]d) * %[1]d AS ws FROM auction)
		SELECT p.id AS id, p.name AS name, p.ws AS window_start, p.ws + %[1]d AS window_end
		FROM p JOIN a ON p.id = a.seller AND p.ws = a.ws`, tumbleUs),
}

func TestOracle(t *testing.T) {
	db := loadSQLite(t, oracleSource)
	for _, name := range nexmark.Names {
		t.Run(name, func(t *testing.T) {
			began := time.Now()
			want := sqliteRows(t, db, oracleSQL[name])
			t.Logf("SQLite: %d rows in %s", len(want), time.Since(began).Round(time.Millisecond))
			if len(want) == 0 {
				t.Fatalf("the SQLite side of %s is empty; the input is too small to test it", name)
			}
			for _, par := range []int{1, 2} {
				got, err := engineRows(t, name, oracleSource, par)
				if err != nil {
					t.Fatalf("parallelism %d: %v", par, err)
				}
				compareRows(t, fmt.Sprintf("%s at parallelism %d", name, par), got, want)
				t.Logf("%s at parallelism %d: %d rows match SQLite", name, par, len(got))
			}
		})
	}
}

// engineRows runs a query on the local runner into the collect sink. A
// planning failure is returned as is (*sql.Error); run failures fail t.
func engineRows(t *testing.T, name string, src nexmark.Source, par int) ([]map[string]any, error) {
	t.Helper()
	q, err := nexmark.Render(name, src, "connector = 'collect'")
	if err != nil {
		t.Fatal(err)
	}
	return runCollect(t, q, par)
}

func runCollect(t *testing.T, q string, par int) ([]map[string]any, error) {
	t.Helper()
	sink := collect.New()
	reg := connectors.Default().Clone()
	if err := reg.Register(sink); err != nil {
		t.Fatal(err)
	}
	p, err := rsql.Plan(q, rsql.Options{Parallelism: par, Connectors: reg})
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	x, err := engine.NewRunner().Start(ctx, p, engine.RunOptions{JobID: "oracle", RunID: 1})
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	<-x.Done()
	if err := x.Err(); err != nil {
		t.Fatalf("run: %v", err)
	}
	if !x.Finished() {
		t.Fatal("run ended before its source was exhausted")
	}
	rows, err := foldChangelog(sink.Rows())
	if err != nil {
		t.Fatal(err)
	}
	return rows, nil
}

// foldChangelog turns debezium-style rows ({before, after, op}) of an
// updating query into the final table; other rows are returned as they are.
// A change that removes a row not in the table is an error.
func foldChangelog(rows []map[string]any) ([]map[string]any, error) {
	if len(rows) == 0 {
		return rows, nil
	}
	for _, r := range rows {
		_, hasOp := r["op"]
		_, hasAfter := r["after"]
		if !hasOp || !hasAfter || len(r) != 3 {
			return rows, nil
		}
	}
	live := map[string][]map[string]any{}
	add := func(v any) error {
		m, ok := v.(map[string]any)
		if !ok {
			return fmt.Errorf("change without a row to add: %v", v)
		}
		k := rowKey(normalizeRow(m))
		live[k] = append(live[k], m)
		return nil
	}
	del := func(v any) error {
		m, ok := v.(map[string]any)
		if !ok {
			return fmt.Errorf("change without a row to remove: %v", v)
		}
		k := rowKey(normalizeRow(m))
		l := live[k]
		if len(l) == 0 {
			return fmt.Errorf("retraction of a row that is not in the table: %v", m)
		}
		live[k] = l[1:]
		return nil
	}
	for _, r := range rows {
		var err error
		switch r["op"] {
		case "c", "r":
			err = add(r["after"])
		case "u":
			if err = del(r["before"]); err == nil {
				err = add(r["after"])
			}
		case "d":
			err = del(r["before"])
		default:
			err = fmt.Errorf("unknown op in %v", r)
		}
		if err != nil {
			return nil, err
		}
	}
	var out []map[string]any
	for _, l := range live {
		out = append(out, l...)
	}
	return out, nil
}

// loadSQLite makes an in-memory database with the source's events in
// person, auction and bid tables. Times are µs since the epoch; ts is the
// event time.
func loadSQLite(t testing.TB, src nexmark.Source) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+strings.ReplaceAll(t.Name(), "/", "_")+"?mode=memory&cache=shared")
	if err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	t.Cleanup(func() { db.Close() })
	for _, ddl := range []string{
		`CREATE TABLE person (id INTEGER, name TEXT, email_address TEXT, credit_card TEXT, city TEXT, state TEXT, datetime INTEGER, extra TEXT, ts INTEGER)`,
		`CREATE TABLE auction (id INTEGER, item_name TEXT, description TEXT, initial_bid INTEGER, reserve INTEGER, datetime INTEGER, expires INTEGER, seller INTEGER, category INTEGER, extra TEXT, ts INTEGER)`,
		`CREATE TABLE bid (auction INTEGER, bidder INTEGER, price INTEGER, channel TEXT, url TEXT, datetime INTEGER, extra TEXT, ts INTEGER)`,
	} {
		if _, err := db.Exec(ddl); err != nil {
			t.Fatal(err)
		}
	}
	first, err := time.Parse(time.RFC3339, src.FirstEventTime)
	if err != nil {
		t.Fatal(err)
	}
	tx, err := db.Begin()
	if err != nil {
		t.Fatal(err)
	}
	stmts := map[string]*sql.Stmt{}
	for i, tbl := range []string{"person", "auction", "bid"} {
		n := nxsrc.Schema().Field(i).Type.(*arrow.StructType).NumFields() + 1
		s, err := tx.Prepare("INSERT INTO " + tbl + " VALUES (" + strings.TrimSuffix(strings.Repeat("?,", n), ",") + ")")
		if err != nil {
			t.Fatal(err)
		}
		stmts[tbl] = s
	}
	g := nxsrc.NewGenerator(src.Seed, first, src.EventTimeRate, nxsrc.Schema())
	const chunk = 4096
	for start := int64(0); start < src.Events; start += chunk {
		b := g.Batch(uint64(start), 1, int(min(chunk, src.Events-start)))
		ts := b.Column(3).(*array.Timestamp)
		for c, tbl := range []string{"person", "auction", "bid"} {
			col := b.Column(c).(*array.Struct)
			for r := 0; r < int(b.NumRows()); r++ {
				if !col.IsValid(r) {
					continue
				}
				args := make([]any, 0, col.NumField()+1)
				for f := 0; f < col.NumField(); f++ {
					args = append(args, cell(col.Field(f), r))
				}
				args = append(args, int64(ts.Value(r)))
				if _, err := stmts[tbl].Exec(args...); err != nil {
					t.Fatal(err)
				}
			}
		}
		b.Release()
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	// Indexes keep the join queries fast (modernc's SQLite is slow under -race).
	for _, ix := range []string{
		`CREATE INDEX bid_auction ON bid (auction)`,
		`CREATE INDEX person_id ON person (id)`,
		`CREATE INDEX auction_seller ON auction (seller)`,
		`ANALYZE`,
	} {
		if _, err := db.Exec(ix); err != nil {
			t.Fatal(err)
		}
	}
	return db
}

func cell(a arrow.Array, r int) any {
	if a.IsNull(r) {
		return nil
	}
	switch a := a.(type) {
	case *array.Int64:
		return a.Value(r)
	case *array.String:
		return a.Value(r)
	case *array.Timestamp:
		return a.Value(r).ToTime(a.DataType().(*arrow.TimestampType).Unit).UnixMicro()
	}
	panic(fmt.Sprintf("unexpected column type %s", a.DataType()))
}

func sqliteRows(t testing.TB, db *sql.DB, q string) []map[string]any {
	t.Helper()
	rows, err := db.Query(q)
	if err != nil {
		t.Fatalf("sqlite: %v\n%s", err, q)
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		t.Fatal(err)
	}
	var out []map[string]any
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		m := map[string]any{}
		for i, c := range cols {
			m[c] = vals[i]
		}
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// normalizeRow maps both sides to comparable values: numbers to float64,
// RFC 3339 timestamps (how the engine's rows spell times) to µs, nested
// objects (window structs) flattened as name.field.
func normalizeRow(m map[string]any) map[string]any {
	out := map[string]any{}
	var put func(prefix string, v any)
	put = func(prefix string, v any) {
		switch v := v.(type) {
		case map[string]any:
			for k, x := range v {
				put(prefix+"."+k, x)
			}
			return
		case int64:
			out[prefix] = float64(v)
		case int:
			out[prefix] = float64(v)
		case []byte:
			out[prefix] = string(v)
		case string:
			if ts, err := time.Parse(time.RFC3339Nano, v); err == nil && strings.Contains(v, "T") {
				out[prefix] = float64(ts.UnixMicro())
			} else {
				out[prefix] = v
			}
		default:
			out[prefix] = v
		}
	}
	for k, v := range m {
		put(k, v)
	}
	return out
}

// rowKey orders rows for matching; floats are rounded so that values
// within tolerance sort together.
func rowKey(m map[string]any) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		b.WriteString(k)
		b.WriteByte('=')
		switch v := m[k].(type) {
		case float64:
			if v == math.Trunc(v) && math.Abs(v) < 1<<62 {
				// Integers (ids, µs timestamps) exactly.
				b.WriteString(strconv.FormatInt(int64(v), 10))
			} else {
				b.WriteString(strconv.FormatFloat(v, 'g', 9, 64))
			}
		default:
			fmt.Fprintf(&b, "%v", v)
		}
		b.WriteByte('\x00')
	}
	return b.String()
}

func compareRows(t *testing.T, what string, got, want []map[string]any) {
	t.Helper()
	g, w := keyed(got), keyed(want)
	if len(g) != len(w) {
		t.Errorf("%s: engine gave %d rows, SQLite %d", what, len(g), len(w))
	}
	bad := 0
	for i := 0; i < min(len(g), len(w)) && bad < 5; i++ {
		if !rowsEqual(g[i].row, w[i].row) {
			t.Errorf("%s: row %d differs:\n engine %v\n sqlite %v", what, i, g[i].row, w[i].row)
			bad++
		}
	}
	if t.Failed() {
		t.FailNow()
	}
}

type keyedRow struct {
	key string
	row map[string]any
}

// keyed normalises rows and sorts them by their keys, computed once.
func keyed(rows []map[string]any) []keyedRow {
	out := make([]keyedRow, len(rows))
	for i, r := range rows {
		n := normalizeRow(r)
		out[i] = keyedRow{key: rowKey(n), row: n}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].key < out[j].key })
	return out
}

func rowsEqual(a, b map[string]any) bool {
	if len(a) != len(b) {
		return false
	}
	for k, x := range a {
		y, ok := b[k]
		if !ok {
			return false
		}
		fx, okx := x.(float64)
		fy, oky := y.(float64)
		if okx && oky {
			if math.Abs(fx-fy) > 1e-9*math.Max(1, math.Max(math.Abs(fx), math.Abs(fy))) {
				return false
			}
			continue
		}
		if x != y {
			return false
		}
	}
	return true
}
