package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"runtime/pprof"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/runnel-dev/runnel/bench/nexmark"
	"github.com/runnel-dev/runnel/internal/benchrun"
)

func newBenchCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Run benchmarks on the embedded engine (no server)",
	}
	cmd.AddCommand(newBenchNexmarkCmd(), newBenchWorkersCmd())
	return cmd
}

func newBenchWorkersCmd() *cobra.Command {
	var (
		query   string
		events  int64
		par     int
		workers int
		seed    int64
		asJSON  bool
	)
	cmd := &cobra.Command{
		Use:   "workers --query q5 --events 10000000 --parallelism 4 --workers 2 [--json]",
		Short: "Compare a Nexmark query embedded with the same query on worker processes",
		Long: `Run one Nexmark query into a blackhole sink twice: on the embedded engine,
then on --workers ` + "`runnel worker`" + ` processes started by the process scheduler
(each running parallelism/workers subtasks of every operator, exchanging
data over gRPC). Each throughput is events ÷ the time from the subtasks
running to the last sink finishing; the workers' startup is reported apart.`,
		Example: `  runnel bench workers --query q5 --events 10000000 --parallelism 4 --workers 2`,
		Args:    exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !slices.Contains(nexmark.Names, query) {
				return usageError{fmt.Errorf("--query must be one of %s, got %q", strings.Join(nexmark.Names, ", "), query)}
			}
			if events <= 0 || par <= 0 || workers <= 0 {
				return usageError{fmt.Errorf("--events, --parallelism and --workers must be positive")}
			}
			if workers > par {
				return usageError{fmt.Errorf("--workers (%d) must not exceed --parallelism (%d)", workers, par)}
			}
			res, err := benchrun.RunOnWorkers(cmd.Context(), benchrun.WorkersConfig{Query: query, Events: events, Seed: seed, Parallelism: par, Workers: workers})
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if asJSON {
				return json.NewEncoder(out).Encode(res)
			}
			tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
			fmt.Fprintf(tw, "query\t%s\n", res.Query)
			fmt.Fprintf(tw, "events\t%d\n", res.Events)
			fmt.Fprintf(tw, "parallelism\t%d\n", res.Parallelism)
			fmt.Fprintf(tw, "embedded\t%.0f events/s\n", res.EmbeddedEventsPerSec)
			fmt.Fprintf(tw, "%d workers\t%.0f events/s (startup %.0f ms)\n", res.Workers, res.WorkersEventsPerSec, res.StartupMs)
			fmt.Fprintf(tw, "ratio\t%.2f\n", res.Ratio)
			return tw.Flush()
		},
	}
	f := cmd.Flags()
	f.StringVar(&query, "query", "q5", "query: "+strings.Join(nexmark.Names, ", "))
	f.Int64Var(&events, "events", 10_000_000, "events to read")
	f.IntVar(&par, "parallelism", 4, "parallelism of every operator")
	f.IntVar(&workers, "workers", 2, "worker processes")
	f.Int64Var(&seed, "seed", 1, "generator seed")
	f.BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func newBenchNexmarkCmd() *cobra.Command {
	var (
		query  string
		events int64
		par    int
		seed   int64
		asJSON bool
		cpuOut string
		etRate float64
		ckIvl  time.Duration
	)
	cmd := &cobra.Command{
		Use:   "nexmark --query q5 --events 10000000 --parallelism 2 [--json]",
		Short: "Run a Nexmark query into a blackhole sink and measure it",
		Long: `Run one Nexmark query (` + strings.Join(nexmark.Names, ", ") + `, kept under bench/nexmark/)
on the embedded engine, reading --events events from the nexmark source as
fast as possible into a blackhole sink, and print:

  events/s           events ÷ wall time from start to the last sink finishing
  events/s per core  events/s ÷ min(parallelism, number of CPUs)
  p50/p99 latency    per sink batch: from when the source first emitted an
                     event as late (in event time) as the batch's latest
                     one, to when the sink received the batch
  peak RSS           the process's high-water resident memory (VmHWM)

--json prints one JSON object with the keys query, events, parallelism,
seconds, events_per_sec, events_per_sec_per_core, p50_ms, p99_ms and
peak_rss_bytes (and, with --checkpoint-interval, checkpoints: count,
mean_ms, max_ms, max_bytes, max_rows). A progress bar is drawn on stderr
when it is a terminal.`,
		Example: `  runnel bench nexmark --query q5 --events 10000000 --parallelism 2
  runnel bench nexmark --query q0 --events 1000000 --json`,
		Args: exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !slices.Contains(nexmark.Names, query) {
				return usageError{fmt.Errorf("--query must be one of %s, got %q", strings.Join(nexmark.Names, ", "), query)}
			}
			if events <= 0 {
				return usageError{fmt.Errorf("--events must be positive, got %d", events)}
			}
			if etRate < 0 {
				return usageError{fmt.Errorf("--event-time-rate must not be negative, got %g", etRate)}
			}
			if par <= 0 {
				return usageError{fmt.Errorf("--parallelism must be positive, got %d", par)}
			}
			if ckIvl < 0 {
				return usageError{fmt.Errorf("--checkpoint-interval must not be negative, got %s", ckIvl)}
			}
			if cpuOut != "" {
				f, err := os.Create(cpuOut)
				if err != nil {
					return usageError{fmt.Errorf("--cpuprofile: %w", err)}
				}
				defer f.Close()
				if err := pprof.StartCPUProfile(f); err != nil {
					return fmt.Errorf("start CPU profile: %w", err)
				}
				defer pprof.StopCPUProfile()
			}
			stderr := cmd.ErrOrStderr()
			bar := newBenchProgress(stderr, query, events)
			r, err := benchrun.Run(cmd.Context(), benchrun.Config{
				Query: query, Events: events, Parallelism: par, Seed: seed, EventTimeRate: etRate,
				Progress: bar.update, CheckpointInterval: ckIvl,
			})
			bar.finish(err == nil)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if asJSON {
				enc := json.NewEncoder(out)
				return enc.Encode(r)
			}
			return writeBenchTable(out, r)
		},
	}
	f := cmd.Flags()
	f.StringVar(&query, "query", "q0", "Nexmark query: "+strings.Join(nexmark.Names, ", "))
	f.Int64Var(&events, "events", 10_000_000, "number of source events")
	f.IntVar(&par, "parallelism", 1, "parallelism of every operator")
	f.Int64Var(&seed, "seed", 0, "generator seed")
	f.BoolVar(&asJSON, "json", false, "print one JSON object instead of a table")
	f.Float64Var(&etRate, "event-time-rate", 0, "events per second of event time (0: the nexmark default, 10000000)")
	f.StringVar(&cpuOut, "cpuprofile", "", "write a CPU profile of the run to this file (go tool pprof)")
	f.DurationVar(&ckIvl, "checkpoint-interval", 0, "checkpoint the run this often into a temporary directory (0: no checkpoints)")
	return cmd
}

func writeBenchTable(w io.Writer, r benchrun.Result) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "QUERY\tEVENTS\tPARALLELISM\tSECONDS\tEVENTS/S\tEVENTS/S/CORE\tP50 MS\tP99 MS\tPEAK RSS\n")
	fmt.Fprintf(tw, "%s\t%d\t%d\t%.2f\t%.0f\t%.0f\t%.1f\t%.1f\t%.1f MiB\n",
		r.Query, r.Events, r.Parallelism, r.Seconds, r.EventsPerSec, r.EventsPerSecPerCore,
		r.P50Ms, r.P99Ms, float64(r.PeakRSSBytes)/(1<<20))
	if err := tw.Flush(); err != nil {
		return err
	}
	if c := r.Checkpoints; c != nil {
		_, err := fmt.Fprintf(w, "checkpoints: %d, mean %.1f ms, max %.1f ms, largest %.1f MiB (%d state rows)\n",
			c.Count, c.MeanMs, c.MaxMs, float64(c.MaxBytes)/(1<<20), c.MaxRows)
		return err
	}
	return nil
}

// benchProgress draws a bar on a terminal; elsewhere it prints one plain
// line at the end, so logs stay readable.
type benchProgress struct {
	w     io.Writer
	tty   bool
	query string
	began time.Time
	last  int64
	total int64
}

func newBenchProgress(w io.Writer, query string, total int64) *benchProgress {
	tty := false
	if f, ok := w.(*os.File); ok {
		if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
			tty = true
		}
	}
	return &benchProgress{w: w, tty: tty, query: query, began: time.Now(), total: total}
}

func (p *benchProgress) update(done, total int64) {
	p.last, p.total = done, total
	if !p.tty || total <= 0 {
		return
	}
	const width = 30
	frac := min(float64(done)/float64(total), 1)
	n := int(frac * width)
	rate := float64(done) / max(time.Since(p.began).Seconds(), 1e-9)
	fmt.Fprintf(p.w, "\r%s [%s%s] %3.0f%% %d/%d events  %.2f M events/s ", p.query,
		strings.Repeat("=", n), strings.Repeat(" ", width-n), frac*100, done, total, rate/1e6)
}

func (p *benchProgress) finish(ok bool) {
	status := "done"
	if !ok {
		status = "failed"
	}
	if p.tty {
		fmt.Fprint(p.w, "\r\033[K")
	}
	fmt.Fprintf(p.w, "%s: %s, %d/%d events in %.2fs\n", p.query, status, p.last, p.total, time.Since(p.began).Seconds())
}
