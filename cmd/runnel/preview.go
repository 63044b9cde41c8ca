package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/runnel-dev/runnel/pkg/client"
)

func newPreviewCmd() *cobra.Command {
	f := newClientFlags()
	var (
		file        string
		limit       int
		enableSinks bool
		timeout     time.Duration
	)
	cmd := &cobra.Command{
		Use:   "preview -f FILE",
		Short: "Run a query as a preview and print its rows as they come",
		Long: `Run the query in FILE as a preview: a short-lived pipeline whose results
are streamed back instead of written to its sinks. Rows are printed as an
aligned table as they arrive (with -o json, one JSON object per line).
Ctrl-C stops the preview; so does reaching --limit rows. The server ends a
preview on its own after a minute.`,
		Example: `  runnel preview -f query.sql
  runnel preview -f query.sql --limit 20
  runnel preview -f query.sql -o json | jq .counter`,
		Args: exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if limit < 0 {
				return usageError{fmt.Errorf("--limit must not be negative, got %d", limit)}
			}
			query, err := readQuery(cmd, file)
			if err != nil {
				return err
			}
			c, err := f.client(cmd, client.WithPollInterval(50*time.Millisecond))
			if err != nil {
				return err
			}
			return runPreview(cmd, c, f.output, query, file, enableSinks, limit, timeout)
		},
	}
	f.register(cmd.Flags())
	f.registerCompletions(cmd)
	fs := cmd.Flags()
	fs.StringVarP(&file, "file", "f", "", "SQL file to preview, - for standard input (required)")
	fs.IntVarP(&limit, "limit", "n", 0, "stop the preview after this many rows (0: no limit)")
	fs.BoolVar(&enableSinks, "enable-sinks", false, "also write to the query's real sinks")
	fs.DurationVar(&timeout, "timeout", time.Minute, "how long to wait for the preview to start")
	_ = cmd.MarkFlagFilename("file", "sql")
	return cmd
}

func runPreview(cmd *cobra.Command, c *client.Client, format outputFormat, query, file string, enableSinks bool, limit int, timeout time.Duration) error {
	ctx := cmd.Context()
	stderr := cmd.ErrOrStderr()
	p, err := c.CreatePreview(ctx, client.PreviewPost{Query: query, EnableSinks: enableSinks})
	if err != nil {
		return explainPlanError(cmd, c, err, query, file)
	}
	stopped := false
	// stop ends the preview on the server. It runs with its own deadline
	// because ctx is already cancelled when the user pressed Ctrl-C.
	stop := func() error {
		if stopped {
			return nil
		}
		stopped = true
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_, err := c.StopPipeline(sctx, p.ID, client.StopImmediate)
		return err
	}
	fmt.Fprintf(stderr, "Started preview %s; Ctrl-C to stop.\n", p.ID)
	j, err := waitJob(cmd, c, p, toRun, -1, timeout)
	var failed *jobFailedError
	if errors.As(err, &failed) {
		// It failed before it ran long enough to be seen Running: report
		// it as the preview's failure, as when it fails while we read.
		return previewEnded(ctx, c, p, stderr, "before its output could be read")
	}
	if err != nil {
		_ = stop()
		if ctx.Err() != nil {
			fmt.Fprintln(stderr, "Preview stopped.")
			return nil
		}
		return err
	}
	if j.State != client.StateRunning { // finished before we could watch
		fmt.Fprintf(stderr, "Preview %s before its output could be read.\n", strings.ToLower(string(j.State)))
		return nil
	}
	stream, err := c.OpenOutput(ctx, p.ID, j.ID, &client.OutputOptions{
		OnReconnect: func(attempt int, cause error) {
			fmt.Fprintf(stderr, "Lost the output stream (%v); reconnecting (attempt %d)…\n", cause, attempt)
		},
	})
	if err != nil {
		var ae *client.APIError
		if errors.As(err, &ae) && ae.ClientError() && ctx.Err() == nil {
			// The job may have ended (or failed) between Running and
			// our subscription: say how it ended rather than why the
			// server refused.
			if j, jerr := c.CurrentJob(ctx, p.ID); jerr == nil && j.State != client.StateRunning {
				return previewEnded(ctx, c, p, stderr, "before its output could be read")
			}
		}
		_ = stop()
		if ctx.Err() != nil {
			fmt.Fprintln(stderr, "Preview stopped.")
			return nil
		}
		return err
	}
	defer stream.Close()

	out := cmd.OutOrStdout()
	lt := newLiveTable(out)
	rows := 0
	for batch, err := range stream.Batches() {
		if err != nil {
			if ctx.Err() != nil {
				break // Ctrl-C
			}
			_ = stop()
			return err
		}
		rs, err := batch.Rows()
		if err != nil {
			_ = stop()
			return err
		}
		for _, r := range rs {
			switch format {
			case formatJSON:
				err = emitLine(out, r)
			case formatYAML:
				var b []byte
				if b, err = toYAML(r); err == nil {
					_, err = fmt.Fprintf(out, "---\n%s", b)
				}
			default:
				err = lt.write(batch.OperatorID, r)
			}
			if err != nil {
				_ = stop()
				return err
			}
			rows++
			if limit > 0 && rows >= limit {
				break
			}
		}
		if limit > 0 && rows >= limit {
			break
		}
	}
	summary := fmt.Sprintf("%d %s", rows, plural(rows, "row", "rows"))
	if n := stream.Dropped(); n > 0 {
		summary += fmt.Sprintf("; the server dropped %d %s because this client read too slowly", n, plural(int(n), "batch", "batches"))
	}
	if n := stream.Reconnects(); n > 0 {
		summary += fmt.Sprintf("; rows produced during %d %s may be missing", n, plural(n, "reconnect", "reconnects"))
	}
	if !stream.Done() {
		// Interrupted or at the limit: the preview is still running.
		if err := stop(); err != nil {
			return fmt.Errorf("stopping preview %s: %w", p.ID, err)
		}
		fmt.Fprintf(stderr, "Preview stopped after %s.\n", summary)
		return nil
	}
	// The job ended by itself: its time ran out, its sources finished, or
	// it failed.
	return previewEnded(ctx, c, p, stderr, "after "+summary)
}

// previewEnded reports how a preview's job ended, waiting a moment for
// the controller to record it: a failure is returned as an error.
func previewEnded(ctx context.Context, c *client.Client, p *client.Pipeline, stderr io.Writer, when string) error {
	wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	last, err := c.WaitForJob(wctx, p.ID, func(j *client.Job) (bool, error) { return j.State.Terminal(), nil })
	if err == nil && last.State == client.StateFailed {
		fmt.Fprintf(stderr, "Preview failed %s.\n", when)
		return &jobFailedError{pipeline: "preview " + p.ID, ref: p.ID, job: *last}
	}
	fmt.Fprintf(stderr, "Preview ended %s.\n", when)
	return nil
}

// liveTable prints rows as they arrive, aligned in columns whose widths are
// set by the first rows. A later value that does not fit widens its column
// and the header is printed again, so columns stay aligned below it.
type liveTable struct {
	w        io.Writer
	operator string
	cols     []string
	widths   []int
	numeric  []bool
	started  bool
}

func newLiveTable(w io.Writer) *liveTable { return &liveTable{w: w} }

// maxCell caps a column's width; longer values are cut with an ellipsis
// (-o json shows them whole).
const maxCell = 48

func (t *liveTable) write(operator string, r client.Row) error {
	cells := make([]string, len(r.Values))
	for i, v := range r.Values {
		cells[i] = cellText(v)
	}
	header := false
	if !t.started || operator != t.operator || !slices.Equal(r.Columns, t.cols) {
		if t.started {
			if _, err := fmt.Fprintln(t.w); err != nil {
				return err
			}
		}
		t.started, t.operator, t.cols = true, operator, r.Columns
		t.widths = make([]int, len(r.Columns))
		t.numeric = make([]bool, len(r.Columns))
		for i, c := range r.Columns {
			// Headroom, so that the next rows' values seldom widen the
			// column and repeat the header: counters grow, strings vary.
			w := width(cells[i])
			switch r.Values[i].(type) {
			case json.Number:
				t.numeric[i] = true
				w += 2
			case bool:
				w = len("false")
			case string:
				w = max(w+w/2, 8)
			default:
				w = max(w, 4)
			}
			t.widths[i] = min(max(width(c), w), maxCell)
		}
		header = true
	}
	for i, c := range cells {
		if w := min(width(c), maxCell); w > t.widths[i] {
			t.widths[i] = w
			header = true
		}
	}
	var b strings.Builder
	if header {
		var under []string
		for i, c := range t.cols {
			name := truncate(c, t.widths[i])
			if t.numeric[i] {
				b.WriteString(padLeft(name, t.widths[i]))
			} else {
				b.WriteString(padRight(name, t.widths[i]))
			}
			b.WriteString("  ")
			under = append(under, strings.Repeat("─", t.widths[i]))
		}
		b.WriteString("\n")
		b.WriteString(strings.Join(under, "  "))
		b.WriteString("\n")
	}
	line := make([]string, len(cells))
	for i, c := range cells {
		c = truncate(c, t.widths[i])
		if t.numeric[i] {
			line[i] = padLeft(c, t.widths[i])
		} else {
			line[i] = padRight(c, t.widths[i])
		}
	}
	b.WriteString(strings.TrimRight(strings.Join(line, "  "), " "))
	b.WriteString("\n")
	s := b.String()
	if header {
		s = trimLineEnds(s)
	}
	_, err := io.WriteString(t.w, s)
	return err
}

func trimLineEnds(s string) string {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = strings.TrimRight(l, " ")
	}
	return strings.Join(lines, "\n")
}

// cellText renders a JSON value for a table cell on one line.
func cellText(v any) string {
	switch x := v.(type) {
	case nil:
		return "NULL"
	case string:
		return strings.NewReplacer("\n", `\n`, "\r", `\r`, "\t", `\t`).Replace(x)
	case json.Number:
		return x.String()
	case bool:
		if x {
			return "true"
		}
		return "false"
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

func truncate(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	if n < 1 {
		return ""
	}
	return string(r[:n-1]) + "…"
}
