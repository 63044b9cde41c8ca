package controller

import (
	"cmp"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/runnel-dev/runnel/bench/nexmark"
	"github.com/runnel-dev/runnel/internal/connectors/filesystem"
	"github.com/runnel-dev/runnel/internal/engine"
	"github.com/runnel-dev/runnel/internal/lifecycle"
	"github.com/runnel-dev/runnel/internal/state"
	"github.com/runnel-dev/runnel/internal/store"
)

// publishedLines returns every line of the published files in dir, sorted.
func publishedLines(t *testing.T, dir string) []string {
	t.Helper()
	lines, err := filesystem.PublishedLines(dir)
	if err != nil {
		t.Fatal(err)
	}
	return lines
}

// TestNexmarkExactlyOnce runs windowed Nexmark queries (q5: hop windows,
// count and top-1; q8: a windowed join) to a filesystem sink once without
// interruption, then with injected crashes, with a checkpoint stop and a
// start, and with a rescale 1 → 2 → 1: the published rows are identical
// every time.
func TestNexmarkExactlyOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("runs each query four times")
	}
	const events = 40000
	for _, q := range []struct {
		name          string
		eventTimeRate float64
	}{{"q5", 4000}, {"q8", 2000}} {
		t.Run(q.name, func(t *testing.T) {
			h, _ := checkpointHarness(t, nil)
			src := nexmark.Source{Events: events, Seed: 7, EventRate: 20000, FirstEventTime: "2026-01-01T00:00:00Z", EventTimeRate: q.eventTimeRate}
			query := func(dir string) string { return renderNexmark(t, q.name, src, dir, "json") }
			run := func(name string, disturb func(p store.Pipeline)) []string {
				dir := t.TempDir()
				p := h.createWithInterval(query(dir), 200*time.Millisecond)
				h.waitState(p, lifecycle.Running)
				if disturb != nil {
					disturb(p)
				}
				h.waitState(p, lifecycle.Finished)
				lines := publishedLines(t, dir)
				if len(lines) == 0 {
					t.Fatalf("%s: no output", name)
				}
				return lines
			}
			want := run("uninterrupted", nil)
			check := func(name string, got []string) {
				t.Helper()
				if !slices.Equal(got, want) {
					for _, g := range got {
						if !slices.Contains(want, g) {
							t.Logf("%s: unexpected %s", name, g)
						}
					}
					for _, g := range want {
						if !slices.Contains(got, g) {
							t.Logf("%s: missing %s", name, g)
						}
					}
					t.Errorf("%s: %d rows, want %d identical to the uninterrupted run\n first got  %v\n first want %v", name, len(got), len(want), got[:min(3, len(got))], want[:min(3, len(want))])
				}
			}
			check("crashes", run("crashes", func(p store.Pipeline) {
				for crash := 1; crash <= 2; crash++ {
					h.waitEpoch(p, int64(2*crash))
					h.runner.crash(t, "injected")
					h.waitFor(p, "recovered", func(j store.Job) bool {
						return j.Status.State == lifecycle.Running && j.Status.RunID == int64(crash+1)
					})
				}
			}))
			check("checkpoint stop and start", run("stop", func(p store.Pipeline) {
				h.waitCheckpoints(p, 2)
				h.patch(p, stopMode(lifecycle.StopCheckpoint))
				h.waitState(p, lifecycle.Stopped)
				h.patch(p, stopMode(lifecycle.StopNone))
			}))
			check("rescale 1 → 2 → 1", run("rescale", func(p store.Pipeline) {
				for i, par := range []int{2, 1} {
					h.waitEpoch(p, int64(2+2*i))
					overrides := map[int]int{}
					for _, n := range h.program(p).Nodes {
						overrides[n.ID] = par
					}
					h.patch(p, store.ConfigPatch{ParallelismOverrides: overrides})
					h.waitFor(p, "rescaled", func(j store.Job) bool {
						return j.Status.State == lifecycle.Running && j.Status.RunID == int64(i+2)
					})
				}
			}))
		})
	}
}

// panicRunner runs programs with their sink wrapped in an operator that
// panics once, on the first batch after armed is set: a real panic inside
// a real task, which the engine turns into a task failure.
type panicRunner struct {
	inner engine.Runner
	armed *atomic.Bool
}

func (r panicRunner) Start(ctx context.Context, p *engine.Program, opts engine.RunOptions) (engine.Execution, error) {
	nodes := make([]*engine.Node, len(p.Nodes))
	for i, n := range p.Nodes {
		nodes[i] = n
		last := n.Chain[len(n.Chain)-1]
		if last.Kind != engine.KindSink {
			continue
		}
		c := *n
		c.Chain = slices.Clone(n.Chain)
		mk := last.NewOperator
		c.Chain[len(c.Chain)-1].NewOperator = func(info engine.TaskInfo) (engine.Operator, error) {
			op, err := mk(info)
			return &panicky{Operator: op, armed: r.armed}, err
		}
		nodes[i] = &c
	}
	q, err := engine.NewProgram(nodes, p.Edges)
	if err != nil {
		return nil, err
	}
	return r.inner.Start(ctx, q, opts)
}

type panicky struct {
	engine.Operator
	armed *atomic.Bool
}

func (p *panicky) Process(ctx context.Context, b arrow.RecordBatch, out engine.Collector) error {
	if p.armed.CompareAndSwap(true, false) {
		panic("injected panic in the sink")
	}
	return p.Operator.Process(ctx, b, out)
}

// The sink's checkpoint hooks must stay visible through the wrapper.
func (p *panicky) Snapshot(ctx context.Context, epoch int64) (*arrow.Schema, []arrow.RecordBatch, error) {
	return p.Operator.(engine.Snapshotter).Snapshot(ctx, epoch)
}
func (p *panicky) Restore(ctx context.Context, st engine.RestoredState) error {
	return p.Operator.(engine.Restorer).Restore(ctx, st)
}
func (p *panicky) Commit(ctx context.Context, epoch int64) error {
	return p.Operator.(engine.Committer).Commit(ctx, epoch)
}
func (p *panicky) Close() error { return p.Operator.(engine.Closer).Close() }

// TestNexmarkPanickingOperator: an operator of a running Nexmark windowed
// job panics; the job recovers from its last checkpoint and publishes the
// rows of an uninterrupted run.
func TestNexmarkPanickingOperator(t *testing.T) {
	armed := &atomic.Bool{}
	h, _ := checkpointHarness(t, func(c *Config) {
		c.Runner.(*faultRunner).inner = panicRunner{inner: engine.NewRunner(), armed: armed}
	})
	src := nexmark.Source{Events: 40000, Seed: 7, EventRate: 20000, FirstEventTime: "2026-01-01T00:00:00Z", EventTimeRate: 4000}
	query := func(dir string) string { return renderNexmark(t, "q5", src, dir, "json") }
	wantDir, gotDir := t.TempDir(), t.TempDir()
	base := h.createWithInterval(query(wantDir), 200*time.Millisecond)
	h.waitState(base, lifecycle.Finished)
	p := h.createWithInterval(query(gotDir), 200*time.Millisecond)
	h.waitState(p, lifecycle.Running)
	h.waitEpoch(p, 2)
	armed.Store(true)
	h.waitFor(p, "recovered", func(j store.Job) bool { return j.Status.Restarts >= 1 || j.Status.RunID > 1 })
	h.waitState(p, lifecycle.Finished)
	if armed.Load() {
		t.Fatal("the sink never panicked")
	}
	msgs, _, err := h.store.ListLogMessages(context.Background(), store.DefaultOrg, p.Job.ID, store.LevelError, store.Page{Limit: 10})
	if err != nil || !hasMessage(msgs, "task failed") || !strings.Contains(msgs[len(msgs)-1].Details+msgs[0].Details, "injected panic") {
		t.Fatalf("log messages %+v %v", msgs, err)
	}
	if got, want := publishedLines(t, gotDir), publishedLines(t, wantDir); !slices.Equal(got, want) {
		t.Fatalf("after the panic: %d rows, want %d\n got %v\nwant %v", len(got), len(want), got, want)
	}
}

// foldChangelog applies debezium_json lines (c, u, d) to an empty table and
// returns its rows, sorted.
func foldChangelog(t *testing.T, lines []string) []string {
	t.Helper()
	rows := map[string]int{}
	for _, l := range lines {
		var ch struct {
			Before, After json.RawMessage
			Op            string
		}
		if err := json.Unmarshal([]byte(l), &ch); err != nil {
			t.Fatalf("%q: %v", l, err)
		}
		if ch.Op == "u" || ch.Op == "d" {
			k := string(ch.Before)
			if rows[k] == 0 {
				t.Fatalf("retraction of a row not in the table: %s", l)
			}
			rows[k]--
		}
		if ch.Op == "c" || ch.Op == "u" {
			rows[string(ch.After)]++
		}
	}
	var out []string
	for r, n := range rows {
		for ; n > 0; n-- {
			out = append(out, r)
		}
	}
	slices.Sort(out)
	return out
}

// TestNexmarkUpdatingExactlyOnce: q4 (an unwindowed join and two updating
// aggregates) writes its changelog to a debezium_json file sink; after
// crashes and after a checkpoint stop and start, the table the changelog
// folds to equals that of an uninterrupted run.
func TestNexmarkUpdatingExactlyOnce(t *testing.T) {
	h, _ := checkpointHarness(t, nil)
	src := nexmark.Source{Events: 40000, Seed: 7, EventRate: 20000, FirstEventTime: "2026-01-01T00:00:00Z", EventTimeRate: 4000}
	query := func(dir string) string { return renderNexmark(t, "q4", src, dir, "debezium_json") }
	run := func(disturb func(p store.Pipeline)) []string {
		dir := t.TempDir()
		p := h.createWithInterval(query(dir), 200*time.Millisecond)
		h.waitState(p, lifecycle.Running)
		if disturb != nil {
			disturb(p)
		}
		h.waitState(p, lifecycle.Finished)
		return foldChangelog(t, changelogInOrder(t, dir))
	}
	want := run(nil)
	if len(want) == 0 {
		t.Fatal("q4 produced no rows")
	}
	for name, disturb := range map[string]func(store.Pipeline){
		"crash": func(p store.Pipeline) {
			h.waitEpoch(p, 2)
			h.runner.crash(t, "injected")
		},
		"checkpoint stop and start": func(p store.Pipeline) {
			h.waitEpoch(p, 2)
			h.patch(p, stopMode(lifecycle.StopCheckpoint))
			h.waitState(p, lifecycle.Stopped)
			h.patch(p, stopMode(lifecycle.StopNone))
		},
	} {
		if got := run(disturb); !slices.Equal(got, want) {
			t.Errorf("%s: table\n got %v\nwant %v", name, got, want)
		}
	}
}

// changelogInOrder reads a one-subtask sink's published files in the order
// they were written (run, then sequence) and their lines in order.
func changelogInOrder(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	name := regexp.MustCompile(`^part-00000-(\d+)(?:-(\d+))?\.jsonl$`)
	type file struct {
		run, seq int
		path     string
	}
	var files []file
	for _, e := range entries {
		m := name.FindStringSubmatch(e.Name())
		if m == nil {
			continue
		}
		run, _ := strconv.Atoi(m[1])
		seq, _ := strconv.Atoi(m[2]) // "" (the first file) is 0
		files = append(files, file{run, seq, filepath.Join(dir, e.Name())})
	}
	slices.SortFunc(files, func(a, b file) int { return cmp.Or(cmp.Compare(a.run, b.run), cmp.Compare(a.seq, b.seq)) })
	var lines []string
	for _, f := range files {
		data, err := os.ReadFile(f.path)
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range strings.Split(strings.TrimSpace(string(data)), "\n") {
			if l != "" {
				lines = append(lines, l)
			}
		}
	}
	return lines
}

// TestNexmarkBadCheckpointWrites: with epoch 2's state writes failing, or
// landing corrupted, a crash after later checkpoints still ends with the
// rows of an uninterrupted run of q5.
func TestNexmarkBadCheckpointWrites(t *testing.T) {
	for _, tc := range []struct {
		name             string
		failed, corrupts int64
	}{{"write fails", 2, -1}, {"file corrupted", -1, 2}} {
		t.Run(tc.name, func(t *testing.T) {
			h, _ := checkpointHarness(t, func(c *Config) {
				c.Checkpoints = &faultyStorage{Storage: c.Checkpoints.(*state.Storage), failEpoch: tc.failed, corruptEpoch: tc.corrupts}
			})
			src := nexmark.Source{Events: 40000, Seed: 11, EventRate: 20000, FirstEventTime: "2026-01-01T00:00:00Z", EventTimeRate: 4000}
			query := func(dir string) string { return renderNexmark(t, "q5", src, dir, "json") }
			wantDir, gotDir := t.TempDir(), t.TempDir()
			base := h.createWithInterval(query(wantDir), 150*time.Millisecond)
			h.waitState(base, lifecycle.Finished)
			p := h.createWithInterval(query(gotDir), 150*time.Millisecond)
			h.waitState(p, lifecycle.Running)
			h.waitEpoch(p, 3)
			if c, err := h.store.GetCheckpoint(context.Background(), store.DefaultOrg, p.Job.ID, 2); err != nil || c.State != store.CheckpointFailed {
				t.Fatalf("epoch 2: %+v %v, want failed", c.State, err)
			}
			h.runner.crash(t, "crash after a bad checkpoint")
			h.waitState(p, lifecycle.Finished)
			if got, want := publishedLines(t, gotDir), publishedLines(t, wantDir); !slices.Equal(got, want) {
				t.Fatalf("%d rows, want the %d of the uninterrupted run", len(got), len(want))
			}
		})
	}
}

// renderNexmark renders a Nexmark query writing to a file sink in dir.
func renderNexmark(t *testing.T, name string, src nexmark.Source, dir, format string) string {
	t.Helper()
	sql, err := nexmark.Render(name, src, nexmark.FileSink(dir, format))
	if err != nil {
		t.Fatal(err)
	}
	return sql
}
