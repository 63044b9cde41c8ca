package nexmark_test

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/runnel-dev/runnel/internal/connectors"
	"github.com/runnel-dev/runnel/internal/connectors/nexmark"
	"github.com/runnel-dev/runnel/internal/engine"
	"github.com/runnel-dev/runnel/internal/sql"
)

// These tests run nexmark through the real planner and runtime into the
// filesystem sink, and check the files against the generator.

var first = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

func runQuery(t *testing.T, q string, par int) {
	t.Helper()
	p, err := sql.Plan(q, sql.Options{Parallelism: par})
	if err != nil {
		t.Fatalf("plan: %v", err)
	}
	x, err := engine.NewRunner().Start(context.Background(), p, engine.RunOptions{JobID: "e2e", RunID: 1})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-x.Done():
	case <-time.After(time.Minute):
		x.Stop(engine.StopImmediate)
		<-x.Done()
		t.Fatal("query did not finish")
	}
	if err := x.Err(); err != nil {
		t.Fatal(err)
	}
	if !x.Finished() {
		t.Fatal("execution ended without its sources finishing")
	}
}

// TestSelectStarToParquet writes every event to Parquet with two
// subtasks, reads the files back through the filesystem source, and
// compares them with what the generator makes.
func TestSelectStarToParquet(t *testing.T) {
	dir := t.TempDir()
	runQuery(t, `
CREATE TABLE n WITH (connector = 'nexmark', events = '1000', seed = '5', first_event_time = '2024-01-01T00:00:00Z', event_time_rate = '1000');
CREATE TABLE out WITH (connector = 'filesystem', path = '`+dir+`', format = 'parquet');
INSERT INTO out SELECT * FROM n`, 2)

	conn, _ := connectors.Default().Lookup("filesystem")
	tbl, err := conn.NewTable(connectors.TableSpec{Name: "in", Options: connectors.NewOptions(map[string]string{"path": dir, "format": "parquet"})})
	if err != nil {
		t.Fatal(err)
	}
	src, err := tbl.NewSource(engine.TaskInfo{Parallelism: 1})
	if err != nil {
		t.Fatal(err)
	}
	var got []arrow.RecordBatch
	err = src.Run(context.Background(), make(chan struct{}), engine.CollectorFunc(func(_ context.Context, b arrow.RecordBatch) error {
		b.Retain()
		got = append(got, b)
		return nil
	}))
	if err != nil {
		t.Fatal(err)
	}

	// Files are read in name order: subtask 0's events 0, 2, 4, … then
	// subtask 1's.
	g := nexmark.NewGenerator(5, first, 1000, nexmark.Schema())
	want := []arrow.RecordBatch{g.Batch(0, 2, 500), g.Batch(1, 2, 500)}
	gotRows, wantRows := rows(t, got), rows(t, want)
	if len(gotRows) != 1000 {
		t.Fatalf("read %d rows", len(gotRows))
	}
	for i := range wantRows {
		if gotRows[i] != wantRows[i] {
			t.Fatalf("row %d:\n got %s\nwant %s", i, gotRows[i], wantRows[i])
		}
	}
}

// rows renders each row's event columns (not the event time, which the
// file source sets at read time) as JSON.
func rows(t *testing.T, bs []arrow.RecordBatch) []string {
	t.Helper()
	var out []string
	for _, b := range bs {
		defer b.Release()
		for r := 0; r < int(b.NumRows()); r++ {
			var parts []string
			for c := 0; c < 3; c++ {
				parts = append(parts, b.Schema().Field(c).Name+"="+b.Column(c).ValueStr(r))
			}
			out = append(out, strings.Join(parts, " "))
		}
	}
	return out
}

// TestBidsToJSON filters the bids, writes them as JSON lines with three
// subtasks, and checks the lines against the generator's bids.
func TestBidsToJSON(t *testing.T) {
	dir := t.TempDir()
	runQuery(t, `
CREATE TABLE n WITH (connector = 'nexmark', events = '5000', seed = '9', first_event_time = '2024-01-01T00:00:00Z', event_time_rate = '1000');
CREATE TABLE out WITH (connector = 'filesystem', path = '`+dir+`', format = 'json');
INSERT INTO out SELECT bid FROM n WHERE bid IS NOT NULL`, 3)

	var got []string
	files, _ := filepath.Glob(filepath.Join(dir, "*.jsonl"))
	if len(files) != 3 {
		t.Fatalf("files %v", files)
	}
	for _, f := range files {
		fh, err := os.Open(f)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(fh)
		for sc.Scan() {
			got = append(got, sc.Text())
		}
		fh.Close()
	}

	g := nexmark.NewGenerator(9, first, 1000, nexmark.Schema())
	b := g.Batch(0, 1, 5000)
	defer b.Release()
	bids := b.Column(2).(*array.Struct)
	var want []string
	for r := 0; r < bids.Len(); r++ {
		if bids.IsNull(r) {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(bids.ValueStr(r)), &m); err != nil {
			t.Fatal(err)
		}
		ts := time.UnixMicro(int64(bids.Field(5).(*array.Timestamp).Value(r))).UTC().Format("2006-01-02T15:04:05.000000Z07:00")
		want = append(want, `{"bid":{"auction":`+jsonNum(m["auction"])+`,"bidder":`+jsonNum(m["bidder"])+`,"price":`+jsonNum(m["price"])+
			`,"channel":`+jsonStr(m["channel"])+`,"url":`+jsonStr(m["url"])+`,"datetime":"`+ts+`","extra":`+jsonStr(m["extra"])+`}}`)
	}
	if len(want) != 4600 {
		t.Fatalf("generator made %d bids", len(want))
	}
	sort.Strings(got)
	sort.Strings(want)
	if len(got) != len(want) {
		t.Fatalf("%d lines, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("line:\n got %s\nwant %s", got[i], want[i])
		}
	}
}

func jsonNum(v any) string {
	b, _ := json.Marshal(int64(v.(float64)))
	return string(b)
}

func jsonStr(v any) string {
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
	return strings.TrimSuffix(b.String(), "\n")
}

// TestFieldAccessQuery is the query Nexmark needs most: struct field
// access.
func TestFieldAccessQuery(t *testing.T) {
	dir := t.TempDir()
	q := `
CREATE TABLE n WITH (connector = 'nexmark', events = '1000', seed = '1', first_event_time = '2024-01-01T00:00:00Z');
CREATE TABLE out (auction BIGINT, price BIGINT) WITH (connector = 'filesystem', path = '` + dir + `', format = 'json');
INSERT INTO out SELECT bid.auction, bid.price FROM n WHERE bid IS NOT NULL`
	if _, err := sql.Plan(q, sql.Options{}); err != nil {
		t.Fatalf("plan: %v", err)
	}
	runQuery(t, q, 2)

	conn, _ := connectors.Default().Lookup("filesystem")
	cols := []connectors.Column{{Name: "auction", Type: arrow.PrimitiveTypes.Int64}, {Name: "price", Type: arrow.PrimitiveTypes.Int64}}
	tbl, err := conn.NewTable(connectors.TableSpec{Name: "in", Columns: cols, Options: connectors.NewOptions(map[string]string{"path": dir, "format": "json"})})
	if err != nil {
		t.Fatal(err)
	}
	src, _ := tbl.NewSource(engine.TaskInfo{Parallelism: 1})
	got := map[[2]int64]int{}
	n := 0
	err = src.Run(context.Background(), make(chan struct{}), engine.CollectorFunc(func(_ context.Context, b arrow.RecordBatch) error {
		a, p := b.Column(0).(*array.Int64), b.Column(1).(*array.Int64)
		for r := 0; r < int(b.NumRows()); r++ {
			got[[2]int64{a.Value(r), p.Value(r)}]++
			n++
		}
		return nil
	}))
	if err != nil {
		t.Fatal(err)
	}
	g := nexmark.NewGenerator(1, first, nexmark.DefaultEventTimeRate, nexmark.Schema())
	b := g.Batch(0, 1, 1000)
	defer b.Release()
	bids := b.Column(2).(*array.Struct)
	for r := 0; r < bids.Len(); r++ {
		if bids.IsValid(r) {
			got[[2]int64{bids.Field(0).(*array.Int64).Value(r), bids.Field(2).(*array.Int64).Value(r)}]--
		}
	}
	for k, v := range got {
		if v != 0 {
			t.Fatalf("bid %v: count off by %d", k, v)
		}
	}
	if n != 920 {
		t.Fatalf("%d rows", n)
	}
}
