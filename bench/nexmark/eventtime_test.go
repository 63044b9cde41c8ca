package nexmark_test

// Oracle tests of event time: lateness under a watermark, and session
// windows over out-of-order input. The input is a deterministic random
// stream in JSON files (one batch per file, read in name order); SQLite
// computes the expected result from the same rows.

import (
	"database/sql"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var etBase = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

type etEvent struct {
	k    string
	v    int64
	tsMs int64 // ms after etBase
	file int
}

// etStream makes n events over files files. Event times grow about 100 ms
// per event with up to ±jitterMs of disorder; they are ≡ 1 (mod 7) ms so
// that no two differ by a whole number of seconds (no session-gap ties).
func etStream(seed uint64, n, files int, jitterMs int64) []etEvent {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	out := make([]etEvent, n)
	for i := range out {
		base := int64(i) * 100
		if jitterMs > 0 {
			base += r.Int64N(2*jitterMs+1) - jitterMs
		}
		ts := max(base, 0)/7*7 + 1
		out[i] = etEvent{
			k:    string(rune('a' + r.IntN(5))),
			v:    r.Int64N(1000),
			tsMs: ts,
			file: i * files / n,
		}
	}
	return out
}

// writeFiles writes the events as JSON lines, one file per batch.
func writeFiles(t *testing.T, evs []etEvent) string {
	t.Helper()
	dir := t.TempDir()
	bufs := map[int]*strings.Builder{}
	for _, e := range evs {
		b := bufs[e.file]
		if b == nil {
			b = &strings.Builder{}
			bufs[e.file] = b
		}
		ts := etBase.Add(time.Duration(e.tsMs) * time.Millisecond).Format(time.RFC3339Nano)
		fmt.Fprintf(b, `{"k":%q,"v":%d,"ts":%q}`+"\n", e.k, e.v, ts)
	}
	for f, b := range bufs {
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("part-%04d.json", f)), []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func etSQLite(t *testing.T, evs []etEvent) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+strings.ReplaceAll(t.Name(), "/", "_")+"?mode=memory&cache=shared")
	if err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	t.Cleanup(func() { db.Close() })
	if _, err := db.Exec(`CREATE TABLE ev (k TEXT, v INTEGER, ts INTEGER, file INTEGER)`); err != nil {
		t.Fatal(err)
	}
	tx, err := db.Begin()
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range evs {
		us := etBase.UnixMicro() + e.tsMs*1000
		if _, err := tx.Exec(`INSERT INTO ev VALUES (?, ?, ?, ?)`, e.k, e.v, us, e.file); err != nil {
			t.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	return db
}

func etDDL(dir string) string {
	return fmt.Sprintf(`CREATE TABLE ev (k TEXT, v BIGINT, ts TIMESTAMP, WATERMARK FOR ts AS ts - INTERVAL '2 seconds')
  WITH (connector = 'filesystem', path = '%s', format = 'json');
CREATE TABLE results WITH (connector = 'collect');
`, dir)
}

// TestOracleLateness: with a 2 s watermark delay, an event older than the
// watermark when it arrives (the largest event time of the earlier files
// minus 2 s) is dropped; the rest are counted per key and 5 s window.
// Parallelism 1 keeps the watermark at each batch deterministic.
func TestOracleLateness(t *testing.T) {
	evs := etStream(7, 3000, 30, 6000)
	db := etSQLite(t, evs)
	const delay, width = 2_000_000, 5_000_000
	// wm is the watermark each file's batch meets: the largest event time
	// of the files before it, minus the delay (NULL before any).
	if _, err := db.Exec(fmt.Sprintf(`CREATE TABLE wm AS
		SELECT f.file AS file, (SELECT max(e2.ts) FROM ev e2 WHERE e2.file < f.file) - %d AS wm
		FROM (SELECT DISTINCT file FROM ev) AS f`, delay)); err != nil {
		t.Fatal(err)
	}
	var late, total int
	if err := db.QueryRow(`SELECT count(*) FROM ev JOIN wm USING (file) WHERE ev.ts < wm.wm`).Scan(&late); err != nil {
		t.Fatal(err)
	}
	if err := db.QueryRow(`SELECT count(*) FROM ev`).Scan(&total); err != nil {
		t.Fatal(err)
	}
	if late == 0 || late > total/2 {
		t.Fatalf("the input should have some late events, has %d of %d", late, total)
	}
	want := sqliteRows(t, db, fmt.Sprintf(`
		SELECT k, count(*) AS n, sum(v) AS s, (ts / %[1]d) * %[1]d AS "w.start", (ts / %[1]d) * %[1]d + %[1]d AS "w.end"
		FROM ev JOIN wm USING (file) WHERE wm.wm IS NULL OR ev.ts >= wm.wm
		GROUP BY k, (ts / %[1]d)`, width))

	q := etDDL(writeFiles(t, evs)) + `INSERT INTO results
SELECT k, count(*) AS n, sum(v) AS s, tumble(interval '5 seconds') AS w FROM ev GROUP BY k, w`
	got, err := runCollect(t, q, 1)
	if err != nil {
		t.Fatalf("plan: %v", err)
	}
	compareRows(t, "late events dropped", got, want)
	t.Logf("%d windows match SQLite; %d of %d events were late", len(got), late, total)
}

// TestOracleSessions: session windows (3 s gap) per key over shuffled
// input with no late events (one batch), at parallelism 1 and 2. A
// session is [first event, last event + gap).
func TestOracleSessions(t *testing.T) {
	evs := etStream(11, 1500, 1, 0)
	// Spread the keys' events apart so that sessions end and begin: every
	// third block of 50 events is moved 4 s later.
	for i := range evs {
		evs[i].tsMs += int64(i/50) * 4004
	}
	r := rand.New(rand.NewPCG(3, 4))
	r.Shuffle(len(evs), func(i, j int) { evs[i], evs[j] = evs[j], evs[i] })
	db := etSQLite(t, evs)
	const gap = 3_000_000
	want := sqliteRows(t, db, fmt.Sprintf(`
		WITH o AS (
			SELECT k, v, ts, CASE WHEN ts - lag(ts) OVER (PARTITION BY k ORDER BY ts) < %[1]d THEN 0 ELSE 1 END AS first
			FROM ev),
		s AS (
			SELECT k, v, ts, sum(first) OVER (PARTITION BY k ORDER BY ts ROWS UNBOUNDED PRECEDING) AS sid FROM o)
		SELECT k, count(*) AS n, sum(v) AS s, min(ts) AS "w.start", max(ts) + %[1]d AS "w.end"
		FROM s GROUP BY k, sid`, gap))
	if len(want) < 20 {
		t.Fatalf("the input makes only %d sessions", len(want))
	}
	dir := writeFiles(t, evs)
	for _, par := range []int{1, 2} {
		q := etDDL(dir) + `INSERT INTO results
SELECT k, count(*) AS n, sum(v) AS s, session(interval '3 seconds') AS w FROM ev GROUP BY k, w`
		got, err := runCollect(t, q, par)
		if err != nil {
			t.Fatalf("plan: %v", err)
		}
		compareRows(t, fmt.Sprintf("sessions at parallelism %d", par), got, want)
		t.Logf("parallelism %d: %d sessions match SQLite", par, len(got))
	}
}
