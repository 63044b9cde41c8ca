package main

import (
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/runnel-dev/runnel/pkg/client"
)

func newJobCmd() *cobra.Command {
	f := newClientFlags()
	cmd := groupCmd("job", "Inspect jobs: states, errors, checkpoints and metrics",
		`A job is one execution of a pipeline; each pipeline has one current job.
Commands that take PIPELINE accept its id (pl_…) or its name when that is
unique, and show that pipeline's current job.`)
	cmd.Aliases = []string{"jobs"}
	cmd.Example = `  runnel job list
  runnel job errors doubled --follow
  runnel job checkpoints doubled
  runnel job metrics doubled`
	f.register(cmd.PersistentFlags())
	f.registerCompletions(cmd)
	cmd.AddCommand(
		newJobListCmd(f),
		newJobErrorsCmd(f),
		newJobCheckpointsCmd(f),
		newJobMetricsCmd(f),
	)
	return cmd
}

func newJobListCmd(f *clientFlags) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "list [PIPELINE]",
		Aliases: []string{"ls"},
		Short:   "List jobs with their states, newest first",
		Example: `  runnel job list
  runnel job list doubled -o json`,
		Args:              maxArgs(1, "one PIPELINE"),
		ValidArgsFunction: completePipelines(f),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := f.client(cmd)
			if err != nil {
				return err
			}
			names := map[string]string{}
			var jobs []client.Job
			if len(args) == 1 {
				p, err := resolvePipeline(cmd.Context(), c, args[0])
				if err != nil {
					return err
				}
				names[p.ID] = p.Name
				jobs, err = c.ListPipelineJobs(cmd.Context(), p.ID)
				if err != nil {
					return err
				}
			} else {
				if jobs, err = c.ListJobs(cmd.Context()); err != nil {
					return err
				}
			}
			if jobs == nil {
				jobs = []client.Job{}
			}
			return emit(cmd.OutOrStdout(), f.output, jobs, func(w io.Writer) error {
				if len(jobs) == 0 {
					_, err := fmt.Fprintln(w, "No jobs yet.")
					return err
				}
				if len(args) == 0 {
					for p, err := range c.Pipelines(cmd.Context(), &client.ListOptions{Limit: 100}) {
						if err != nil {
							return err
						}
						names[p.ID] = p.Name
					}
				}
				now := time.Now()
				t := newTable(col("JOB"), col("PIPELINE"), col("STATE"), rcol("RUN"), rcol("TASKS"), rcol("UPTIME"), col("FAILURE"))
				for _, j := range jobs {
					tasks := "-"
					if j.Tasks != nil {
						tasks = strconv.FormatInt(*j.Tasks, 10)
					}
					up := "-"
					if j.StartTime != nil {
						end := now
						if j.FinishTime != nil {
							end = j.FinishTime.Time()
						}
						up = age(end, j.StartTime.Time())
					}
					failure := ""
					if j.FailureReason != nil {
						failure = j.FailureReason.Error
					}
					pl := names[j.PipelineID]
					if pl == "" {
						pl = j.PipelineID
					}
					t.add(j.ID, pl, string(j.State), strconv.FormatUint(j.RunID, 10), tasks, up, failure)
				}
				return t.render(w)
			})
		},
	}
	return cmd
}

func newJobErrorsCmd(f *clientFlags) *cobra.Command {
	var (
		follow bool
		limit  int
	)
	cmd := &cobra.Command{
		Use:   "errors PIPELINE",
		Short: "Show a job's errors, oldest first; --follow waits for new ones",
		Long: `Show the errors a pipeline's job recorded (task failures and the like),
oldest first: the newest --limit of them. With --follow the command keeps
printing new errors as they happen until interrupted (Ctrl-C).`,
		Example: `  runnel job errors doubled
  runnel job errors doubled --follow
  runnel job errors doubled --limit 0 -o json`,
		Args:              exactArgs(1, "one PIPELINE (id or name)"),
		ValidArgsFunction: completePipelines(f),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, p, j, err := f.pipelineJob(cmd, args[0])
			if err != nil {
				return err
			}
			if follow {
				return followErrors(cmd, f, p, j, limit)
			}
			ms := []client.JobLogMessage{}
			for m, err := range c.JobErrors(cmd.Context(), p.ID, j.ID, &client.ListOptions{Limit: 100}) {
				if err != nil {
					return err
				}
				if limit > 0 && len(ms) == limit {
					break
				}
				ms = append(ms, m)
			}
			return emit(cmd.OutOrStdout(), f.output, ms, func(w io.Writer) error {
				if len(ms) == 0 {
					_, err := fmt.Fprintf(w, "No errors for %s (job %s, %s).\n", p.Name, j.ID, j.State)
					return err
				}
				now := time.Now()
				t := newTable(col("TIME"), col("OPERATOR"), rcol("SUBTASK"), col("DOMAIN"), col("ERROR"))
				for i := len(ms) - 1; i >= 0; i-- { // oldest first, as a log reads
					m := ms[i]
					t.add(clock(now, m.CreatedAt.Time()), orDash(deref(m.OperatorID)), subtaskOf(m), orDash(deref(m.ErrorDomain)), errorText(m))
				}
				return t.render(w)
			})
		},
	}
	cmd.Flags().BoolVarP(&follow, "follow", "F", false, "keep printing new errors until interrupted")
	cmd.Flags().IntVar(&limit, "limit", 20, "show at most the newest N existing errors (0: all)")
	return cmd
}

// followErrors prints errors as they arrive: a log line each in table
// format (a table cannot be aligned before its rows are known), one JSON
// object per line with -o json, one YAML document each with -o yaml.
func followErrors(cmd *cobra.Command, f *clientFlags, p *client.Pipeline, j *client.Job, limit int) error {
	c, err := f.client(cmd)
	if err != nil {
		return err
	}
	tail := limit
	if limit == 0 {
		tail = -1
	}
	out := cmd.OutOrStdout()
	fmt.Fprintf(cmd.ErrOrStderr(), "Following errors of %s (%s, job %s); Ctrl-C to stop.\n", p.Name, p.ID, j.ID)
	for m, err := range c.FollowJobErrors(cmd.Context(), p.ID, j.ID, tail) {
		if err != nil {
			return err
		}
		switch f.output {
		case formatJSON:
			if err := emitLine(out, m); err != nil {
				return err
			}
		case formatYAML:
			b, err := toYAML(m)
			if err != nil {
				return err
			}
			fmt.Fprintf(out, "---\n%s", b)
		default:
			op := deref(m.OperatorID)
			if op != "" {
				op += "/" + subtaskOf(m)
			}
			fmt.Fprintf(out, "%s  %-6s %s  %s\n", m.CreatedAt.Time().Local().Format("15:04:05.000"), m.Level,
				orDash(op), errorText(m))
		}
	}
	return nil // ended by Ctrl-C, which is how one stops following
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func subtaskOf(m client.JobLogMessage) string {
	if m.TaskIndex == nil {
		return "-"
	}
	return strconv.FormatInt(*m.TaskIndex, 10)
}

// errorText joins an error's message and details on one line.
func errorText(m client.JobLogMessage) string {
	s := m.Message
	if d := strings.TrimSpace(m.Details); d != "" && d != m.Message {
		s += ": " + strings.Join(strings.Fields(d), " ")
	}
	return s
}

// checkpointDetail is the machine-readable answer of checkpoints --epoch.
type checkpointDetail struct {
	Checkpoint *client.Checkpoint               `json:"checkpoint"`
	Operators  []client.OperatorCheckpointGroup `json:"operators"`
}

func newJobCheckpointsCmd(f *clientFlags) *cobra.Command {
	var epoch int64
	cmd := &cobra.Command{
		Use:   "checkpoints PIPELINE",
		Short: "Show a job's checkpoints, and per-operator, per-subtask detail of one",
		Long: `List a job's checkpoints, oldest first, then break the latest one (or the one
--epoch names) down by operator and subtask: bytes written and how long each
phase took. Alignment waits for barriers from every input, Sync snapshots
state, Async writes it out, Committing runs two-phase commits. Operator rows
show the total bytes and the slowest subtask's phases.

With -o json or yaml the output is the API's checkpoint list, or with
--epoch {"checkpoint": …, "operators": […]}.`,
		Example: `  runnel job checkpoints doubled
  runnel job checkpoints doubled --epoch 3
  runnel job checkpoints doubled -o json`,
		Args:              exactArgs(1, "one PIPELINE (id or name)"),
		ValidArgsFunction: completePipelines(f),
		RunE: func(cmd *cobra.Command, args []string) error {
			byEpoch := cmd.Flags().Changed("epoch")
			if byEpoch && epoch < 0 {
				return usageError{fmt.Errorf("--epoch must not be negative, got %d", epoch)}
			}
			c, p, j, err := f.pipelineJob(cmd, args[0])
			if err != nil {
				return err
			}
			cps, err := c.ListCheckpoints(cmd.Context(), p.ID, j.ID)
			if err != nil {
				return err
			}
			if cps == nil {
				cps = []client.Checkpoint{}
			}
			now := time.Now()
			out := cmd.OutOrStdout()
			if !byEpoch {
				var latest *client.Checkpoint
				var ops []client.OperatorCheckpointGroup
				if f.output == formatTable && len(cps) > 0 {
					latest = &cps[len(cps)-1]
					if ops, err = c.CheckpointDetails(cmd.Context(), p.ID, j.ID, latest.Epoch); err != nil {
						return err
					}
				}
				return emit(out, f.output, cps, func(w io.Writer) error {
					if len(cps) == 0 {
						_, err := fmt.Fprintf(w, "No checkpoints yet for %s (job %s, %s); its checkpoint interval is %s.\n",
							p.Name, j.ID, j.State, interval(p.CheckpointInterval()))
						return err
					}
					if err := renderCheckpoints(w, now, cps); err != nil {
						return err
					}
					fmt.Fprintln(w)
					return renderCheckpointDetail(w, now, latest, ops)
				})
			}
			ops, err := c.CheckpointDetails(cmd.Context(), p.ID, j.ID, epoch)
			if err != nil {
				return err
			}
			var cp *client.Checkpoint
			for i := range cps {
				if cps[i].Epoch == epoch {
					cp = &cps[i]
				}
			}
			if ops == nil {
				ops = []client.OperatorCheckpointGroup{}
			}
			return emit(out, f.output, checkpointDetail{Checkpoint: cp, Operators: ops}, func(w io.Writer) error {
				if cp == nil {
					cp = &client.Checkpoint{Epoch: epoch}
				}
				return renderCheckpointDetail(w, now, cp, ops)
			})
		},
	}
	cmd.Flags().Int64Var(&epoch, "epoch", 0, "show this epoch in detail (default: the latest)")
	return cmd
}

// renderCheckpoints writes the list of checkpoints.
func renderCheckpoints(w io.Writer, now time.Time, cps []client.Checkpoint) error {
	t := newTable(rcol("EPOCH"), col("TYPE"), col("STATUS"), col("STARTED"), rcol("DURATION"), col("BACKEND"))
	for _, c := range cps {
		status, took := "in progress", humanDuration(now.Sub(c.StartTime.Time()))
		if c.FinishTime != nil {
			status = "completed"
			took = humanDuration(c.FinishTime.Time().Sub(c.StartTime.Time()))
		}
		t.add(strconv.FormatInt(c.Epoch, 10), c.CheckpointType, status, clock(now, c.StartTime.Time()), took, orDash(c.Backend))
	}
	return t.render(w)
}

// subtaskPhases are the per-subtask spans, in the order they happen.
var subtaskPhases = []string{"Alignment", "Sync", "Async", "Committing"}

// renderCheckpointDetail writes one epoch: a summary line of its job-level
// phases, then a row per operator and an indented row per subtask.
func renderCheckpointDetail(w io.Writer, now time.Time, cp *client.Checkpoint, ops []client.OperatorCheckpointGroup) error {
	var b strings.Builder
	fmt.Fprintf(&b, "Epoch %d", cp.Epoch)
	if cp.CheckpointType != "" {
		fmt.Fprintf(&b, " · %s", cp.CheckpointType)
	}
	if cp.StartTime != 0 {
		fmt.Fprintf(&b, " · started %s", clock(now, cp.StartTime.Time()))
		if cp.FinishTime != nil {
			fmt.Fprintf(&b, " · took %s", humanDuration(cp.FinishTime.Time().Sub(cp.StartTime.Time())))
		} else {
			b.WriteString(" · in progress")
		}
	}
	var phases []string
	for _, e := range cp.Events {
		if e.Event == "Checkpointing" {
			continue // the whole checkpoint: already shown as "took"
		}
		d := "running"
		if e.FinishTime != 0 {
			d = humanDuration(e.Duration())
		}
		phases = append(phases, fmt.Sprintf("%s %s", e.Event, d))
	}
	if len(phases) > 0 {
		fmt.Fprintf(&b, "\n  phases: %s", strings.Join(phases, ", "))
	}
	b.WriteString("\n\n")
	if _, err := io.WriteString(w, b.String()); err != nil {
		return err
	}
	if len(ops) == 0 {
		_, err := fmt.Fprintln(w, "No operator detail recorded for this epoch.")
		return err
	}
	cols := []column{col("OPERATOR / SUBTASK"), rcol("BYTES")}
	for _, ph := range subtaskPhases {
		cols = append(cols, rcol(strings.ToUpper(ph)))
	}
	cols = append(cols, rcol("TOTAL"))
	t := newTable(cols...)
	for _, op := range ops {
		slowest := make([]time.Duration, len(subtaskPhases))
		var slowestTotal time.Duration
		rows := make([][]string, 0, len(op.Subtasks))
		for _, st := range op.Subtasks {
			row := []string{"  subtask " + strconv.Itoa(st.Index), humanBytes(st.Bytes)}
			var total time.Duration
			for i, ph := range subtaskPhases {
				sp, ok := st.Span(ph)
				if !ok {
					row = append(row, "-")
					continue
				}
				d := sp.Duration()
				total += d
				slowest[i] = max(slowest[i], d)
				row = append(row, humanDuration(d))
			}
			slowestTotal = max(slowestTotal, total)
			rows = append(rows, append(row, humanDuration(total)))
		}
		opRow := []string{op.OperatorID, humanBytes(op.Bytes)}
		for _, d := range slowest {
			opRow = append(opRow, durOrDash(d))
		}
		t.add(append(opRow, durOrDash(slowestTotal))...)
		for _, r := range rows {
			t.add(r...)
		}
	}
	return t.render(w)
}

func durOrDash(d time.Duration) string {
	if d == 0 {
		return "-"
	}
	return humanDuration(d)
}

func newJobMetricsCmd(f *clientFlags) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "metrics PIPELINE",
		Short: "Show a job's live throughput and backpressure per node and subtask",
		Long: `Show the latest rates of each node of a pipeline's job and of each of its
subtasks: messages and bytes received and sent per second, and backpressure
(the share of time spent blocked sending downstream). Rates are sampled
every 2 seconds while the job runs.`,
		Example: `  runnel job metrics doubled
  runnel job metrics doubled -o json`,
		Args:              exactArgs(1, "one PIPELINE (id or name)"),
		ValidArgsFunction: completePipelines(f),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, p, j, err := f.pipelineJob(cmd, args[0])
			if err != nil {
				return err
			}
			groups, err := c.OperatorMetricGroups(cmd.Context(), p.ID, j.ID)
			if err != nil {
				return err
			}
			if groups == nil {
				groups = []client.OperatorMetricGroup{}
			}
			return emit(cmd.OutOrStdout(), f.output, groups, func(w io.Writer) error {
				if len(groups) == 0 {
					_, err := fmt.Fprintf(w, "No metrics yet for %s (job %s, %s); they are sampled every 2 s while the job runs.\n",
						p.Name, j.ID, j.State)
					return err
				}
				return renderMetrics(w, p.Graph, groups)
			})
		},
	}
	return cmd
}

// renderMetrics writes a row per node (rates summed over its subtasks,
// backpressure the highest) and an indented row per subtask.
func renderMetrics(w io.Writer, g client.Graph, groups []client.OperatorMetricGroup) error {
	ops := map[int]string{}
	for _, n := range g.Nodes {
		ops[n.NodeID] = n.Operator
	}
	t := newTable(col("NODE / SUBTASK"), rcol("MSGS IN/s"), rcol("MSGS OUT/s"), rcol("BYTES IN/s"), rcol("BYTES OUT/s"), rcol("BACKPRESSURE"))
	names := []string{client.MetricMessagesRecv, client.MetricMessagesSent, client.MetricBytesRecv, client.MetricBytesSent, client.MetricBackpressure}
	for _, grp := range groups {
		// latest[metric][subtask] = value
		latest := map[string]map[int]float64{}
		subtasks := map[int]bool{}
		for _, mg := range grp.MetricGroups {
			latest[mg.Name] = map[int]float64{}
			for _, st := range mg.Subtasks {
				subtasks[st.Index] = true
				if m, ok := st.Latest(); ok {
					latest[mg.Name][st.Index] = m.Value
				}
			}
		}
		idx := make([]int, 0, len(subtasks))
		for i := range subtasks {
			idx = append(idx, i)
		}
		slices.Sort(idx)
		cell := func(name string, v float64) string {
			switch name {
			case client.MetricBackpressure:
				return fmt.Sprintf("%.0f%%", v*100)
			case client.MetricBytesRecv, client.MetricBytesSent:
				return humanByteRate(v)
			}
			return formatRate(v)
		}
		node := []string{fmt.Sprintf("%d %s", grp.NodeID, ops[grp.NodeID])}
		for _, n := range names {
			var agg float64
			for _, v := range latest[n] {
				if n == client.MetricBackpressure {
					agg = math.Max(agg, v)
				} else {
					agg += v
				}
			}
			node = append(node, cell(n, agg))
		}
		t.add(node...)
		if len(idx) < 2 {
			continue // a single subtask's row would repeat the node's
		}
		for _, i := range idx {
			row := []string{"  subtask " + strconv.Itoa(i)}
			for _, n := range names {
				row = append(row, cell(n, latest[n][i]))
			}
			t.add(row...)
		}
	}
	return t.render(w)
}

// formatRate formats messages per second: 0.5, 99.5, 250.0, 1234, 25.0k,
// 1.50M.
func formatRate(v float64) string {
	switch {
	case v >= 1e6:
		return fmt.Sprintf("%.2fM", v/1e6)
	case v >= 1e4:
		return fmt.Sprintf("%.1fk", v/1e3)
	case v >= 1e3:
		return fmt.Sprintf("%.0f", v)
	}
	return fmt.Sprintf("%.1f", v)
}
