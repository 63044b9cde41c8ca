package main

import (
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/runnel-dev/runnel/pkg/client"
)

func newPipelineCmd() *cobra.Command {
	f := newClientFlags()
	cmd := groupCmd("pipeline", "Create, inspect, stop, start, rescale and delete pipelines",
		`A pipeline is a named SQL query with its settings; its job runs the query.
Commands that take PIPELINE accept its id (pl_…) or its name when that is
unique.`)
	cmd.Aliases = []string{"pipelines", "pl"}
	cmd.Example = `  runnel pipeline create --name doubled -f doubled.sql --wait
  runnel pipeline list
  runnel pipeline stop doubled --wait
  runnel pipeline delete doubled`
	f.register(cmd.PersistentFlags())
	f.registerCompletions(cmd)
	cmd.AddCommand(
		newPipelineCreateCmd(f),
		newPipelineListCmd(f),
		newPipelineGetCmd(f),
		newPipelineStopCmd(f),
		newPipelineStartCmd(f),
		newPipelineRestartCmd(f),
		newPipelineRescaleCmd(f),
		newPipelineDeleteCmd(f),
	)
	return cmd
}

func newPipelineCreateCmd(f *clientFlags) *cobra.Command {
	var (
		name, file  string
		parallelism int
		ckpt        time.Duration
		w           waitFlags
	)
	cmd := &cobra.Command{
		Use:   "create --name NAME -f FILE",
		Short: "Create a pipeline from a SQL file and start its job",
		Long: `Plan the query in FILE and create a pipeline running it. SQL that does
not plan is reported with the line and column of each problem, and nothing
is created. With --wait the command returns once the job is Running.`,
		Example: `  runnel pipeline create --name doubled -f doubled.sql
  runnel pipeline create --name doubled -f doubled.sql --parallelism 4 --checkpoint-interval 30s --wait
  cat doubled.sql | runnel pipeline create --name doubled -f -`,
		Args: exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if name == "" {
				return usageError{errors.New("--name is required")}
			}
			if parallelism < 1 {
				return usageError{fmt.Errorf("--parallelism must be at least 1, got %d", parallelism)}
			}
			query, err := readQuery(cmd, file)
			if err != nil {
				return err
			}
			c, err := f.client(cmd)
			if err != nil {
				return err
			}
			post := client.PipelinePost{Name: name, Query: query, Parallelism: uint64(parallelism)}
			if cmd.Flags().Changed("checkpoint-interval") {
				if ckpt < time.Second || ckpt > 24*time.Hour {
					return usageError{fmt.Errorf("--checkpoint-interval must be between 1s and 24h, got %s", ckpt)}
				}
				us := uint64(ckpt.Microseconds())
				post.CheckpointIntervalMicros = &us
			}
			p, err := c.CreatePipeline(cmd.Context(), post)
			if err != nil {
				return explainPlanError(cmd, c, err, query, file)
			}
			if f.output == formatTable {
				fmt.Fprintf(cmd.OutOrStdout(), "Created pipeline %s\n", pipelineLabel(p))
			}
			if w.wait {
				if _, err := waitJob(cmd, c, p, toRun, -1, w.timeout); err != nil {
					return err
				}
				if p, err = c.GetPipeline(cmd.Context(), p.ID); err != nil {
					return err
				}
			}
			return emit(cmd.OutOrStdout(), f.output, p, func(io.Writer) error { return nil })
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&name, "name", "", "the pipeline's name (required)")
	fs.StringVarP(&file, "file", "f", "", "SQL file to run, - for standard input (required)")
	fs.IntVarP(&parallelism, "parallelism", "p", 1, "how many parallel subtasks each node runs")
	fs.DurationVar(&ckpt, "checkpoint-interval", 10*time.Second, "how often to checkpoint state (server default when not set)")
	w.register(fs, "the job is Running")
	_ = cmd.MarkFlagFilename("file", "sql")
	return cmd
}

// explainPlanError turns a 400 for SQL that does not plan into diagnostics
// with carets, fetched from validate_query which knows the positions.
func explainPlanError(cmd *cobra.Command, c *client.Client, err error, query, file string) error {
	var ae *client.APIError
	if !errors.As(err, &ae) || ae.StatusCode != 400 || !strings.HasPrefix(ae.Message, "Failed to plan query") {
		return err
	}
	res, verr := c.ValidateQuery(cmd.Context(), client.ValidateQueryPost{Query: query})
	if verr != nil || len(res.Errors) == 0 {
		return err
	}
	printDiagnostics(cmd.ErrOrStderr(), displayName(file), query, res.Errors)
	return silentError{error: err, code: 1}
}

func newPipelineListCmd(f *clientFlags) *cobra.Command {
	var limit int
	cmd := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List pipelines with the state of their jobs, newest first",
		Example: `  runnel pipeline list
  runnel pipeline list --limit 5 -o json`,
		Args: exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := f.client(cmd)
			if err != nil {
				return err
			}
			ps := []client.Pipeline{}
			for p, err := range c.Pipelines(cmd.Context(), &client.ListOptions{Limit: 100}) {
				if err != nil {
					return err
				}
				ps = append(ps, p)
				if limit > 0 && len(ps) == limit {
					break
				}
			}
			return emit(cmd.OutOrStdout(), f.output, ps, func(w io.Writer) error {
				if len(ps) == 0 {
					_, err := fmt.Fprintln(w, "No pipelines yet. Create one with `runnel pipeline create --name NAME -f query.sql`.")
					return err
				}
				jobs, err := jobsByPipeline(cmd, c)
				if err != nil {
					return err
				}
				now := time.Now()
				t := newTable(col("ID"), col("NAME"), col("STATE"), rcol("PARALLELISM"), col("CHECKPOINTS"), rcol("AGE"))
				for _, p := range ps {
					t.add(p.ID, p.Name, stateOf(jobs, p.ID), strconv.Itoa(p.Graph.MaxParallelism()),
						"every "+interval(p.CheckpointInterval()), age(now, p.CreatedAt.Time()))
				}
				return t.render(w)
			})
		},
	}
	cmd.Flags().IntVar(&limit, "limit", 0, "show at most this many (0: all)")
	return cmd
}

// jobsByPipeline maps pipeline ids to their current jobs.
func jobsByPipeline(cmd *cobra.Command, c *client.Client) (map[string]client.Job, error) {
	jobs, err := c.ListJobs(cmd.Context())
	if err != nil {
		return nil, err
	}
	m := make(map[string]client.Job, len(jobs))
	for _, j := range jobs {
		if _, ok := m[j.PipelineID]; !ok { // newest first: keep the current one
			m[j.PipelineID] = j
		}
	}
	return m, nil
}

func newPipelineGetCmd(f *clientFlags) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "get PIPELINE",
		Aliases: []string{"show", "describe"},
		Short:   "Show a pipeline, its job, its graph and its query",
		Example: `  runnel pipeline get doubled
  runnel pipeline get pl_J5qB87T4Tz -o yaml`,
		Args:              exactArgs(1, "one PIPELINE (id or name)"),
		ValidArgsFunction: completePipelines(f),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := f.client(cmd)
			if err != nil {
				return err
			}
			p, err := resolvePipeline(cmd.Context(), c, args[0])
			if err != nil {
				return err
			}
			return emit(cmd.OutOrStdout(), f.output, p, func(w io.Writer) error {
				j, err := c.CurrentJob(cmd.Context(), p.ID)
				if err != nil {
					return err
				}
				return describePipeline(w, time.Now(), p, j)
			})
		},
	}
	return cmd
}

// describePipeline writes the human view of one pipeline.
func describePipeline(w io.Writer, now time.Time, p *client.Pipeline, j *client.Job) error {
	var b strings.Builder
	kv := func(k, v string) { fmt.Fprintf(&b, "%-21s %s\n", k+":", v) }
	kv("ID", p.ID)
	kv("Name", p.Name)
	state := string(j.State)
	if j.Tasks != nil && j.State == client.StateRunning {
		state += fmt.Sprintf(" (run %d, %d %s)", j.RunID, *j.Tasks, plural(int(*j.Tasks), "task", "tasks"))
	} else if j.RunID > 0 {
		state += fmt.Sprintf(" (run %d)", j.RunID)
	}
	kv("State", state)
	desired := "running"
	if p.Stop != client.StopNone {
		desired = "stopped (stop mode " + string(p.Stop) + ")"
	}
	kv("Desired", desired)
	kv("Job", j.ID)
	if j.FailureReason != nil {
		kv("Failure", fmt.Sprintf("%s [%s]", j.FailureReason.Error, j.FailureReason.Domain))
	}
	kv("Parallelism", strconv.Itoa(p.Graph.MaxParallelism()))
	kv("Checkpoint interval", interval(p.CheckpointInterval()))
	kv("Created", fmt.Sprintf("%s (%s ago)", p.CreatedAt.Time().Local().Format("2006-01-02 15:04:05"), age(now, p.CreatedAt.Time())))
	if j.StartTime != nil {
		kv("Started", fmt.Sprintf("%s (%s ago)", j.StartTime.Time().Local().Format("2006-01-02 15:04:05"), age(now, j.StartTime.Time())))
	}
	if j.FinishTime != nil {
		kv("Finished", j.FinishTime.Time().Local().Format("2006-01-02 15:04:05"))
	}
	if p.Preview {
		kv("Preview", "yes")
	}
	b.WriteString("\nGraph:\n")
	t := newTable(rcol("NODE"), rcol("PARALLELISM"), col("OPERATORS"))
	for _, n := range p.Graph.Nodes {
		t.add(strconv.Itoa(n.NodeID), strconv.Itoa(n.Parallelism), n.Operator)
	}
	var tb strings.Builder
	_ = t.render(&tb)
	b.WriteString(indent(tb.String(), "  "))
	if len(p.Graph.Edges) > 0 {
		b.WriteString("  edges:")
		for _, e := range p.Graph.Edges {
			fmt.Fprintf(&b, " %d→%d (%s)", e.SrcID, e.DestID, e.EdgeType)
		}
		b.WriteString("\n")
	}
	b.WriteString("\nQuery:\n")
	b.WriteString(indent(strings.TrimRight(p.Query, "\n")+"\n", "  "))
	_, err := io.WriteString(w, b.String())
	return err
}

func indent(s, prefix string) string {
	lines := strings.SplitAfter(s, "\n")
	var b strings.Builder
	for _, l := range lines {
		if l == "" {
			continue
		}
		if l != "\n" {
			b.WriteString(prefix)
		}
		b.WriteString(l)
	}
	return b.String()
}

var stopModeText = map[client.StopMode]string{
	client.StopCheckpoint: "after a final checkpoint",
	client.StopGraceful:   "gracefully (sources stop, data in flight drains)",
	client.StopImmediate:  "immediately",
	client.StopForce:      "by force",
}

func newPipelineStopCmd(f *clientFlags) *cobra.Command {
	var (
		mode string
		w    waitFlags
	)
	cmd := &cobra.Command{
		Use:   "stop PIPELINE",
		Short: "Stop a pipeline's job",
		Long: `Stop a pipeline's job. Modes:
  checkpoint  take a final checkpoint, then stop (default)
  graceful    stop the sources and let data in flight drain
  immediate   cancel the tasks now
  force       like immediate, without waiting for the tasks to acknowledge`,
		Example: `  runnel pipeline stop doubled --wait
  runnel pipeline stop doubled --mode immediate`,
		Args:              exactArgs(1, "one PIPELINE (id or name)"),
		ValidArgsFunction: completePipelines(f),
		RunE: func(cmd *cobra.Command, args []string) error {
			m, err := validStopMode(mode)
			if err != nil {
				return err
			}
			c, err := f.client(cmd)
			if err != nil {
				return err
			}
			p, err := resolvePipeline(cmd.Context(), c, args[0])
			if err != nil {
				return err
			}
			if p, err = c.StopPipeline(cmd.Context(), p.ID, m); err != nil {
				return err
			}
			if f.output == formatTable {
				fmt.Fprintf(cmd.OutOrStdout(), "Stopping %s %s\n", pipelineLabel(p), stopModeText[m])
			}
			if w.wait {
				if _, err := waitJob(cmd, c, p, toStop, 0, w.timeout); err != nil {
					return err
				}
				if p, err = c.GetPipeline(cmd.Context(), p.ID); err != nil {
					return err
				}
			}
			return emit(cmd.OutOrStdout(), f.output, p, func(io.Writer) error { return nil })
		},
	}
	cmd.Flags().StringVar(&mode, "mode", string(client.StopCheckpoint), "how to stop: checkpoint, graceful, immediate or force")
	_ = cmd.RegisterFlagCompletionFunc("mode", cobra.FixedCompletions(stopModeNames(), cobra.ShellCompDirectiveNoFileComp))
	w.register(cmd.Flags(), "the job is Stopped (or Failed or Finished)")
	return cmd
}

func newPipelineStartCmd(f *clientFlags) *cobra.Command {
	var w waitFlags
	cmd := &cobra.Command{
		Use:   "start PIPELINE",
		Short: "Start a stopped or failed pipeline's job again",
		Long: `Start a pipeline's job again: a Stopped job is scheduled anew, a Failed job
is restarted.`,
		Example:           `  runnel pipeline start doubled --wait`,
		Args:              exactArgs(1, "one PIPELINE (id or name)"),
		ValidArgsFunction: completePipelines(f),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, p, j, err := f.pipelineJob(cmd, args[0])
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			human := f.output == formatTable
			if p.Stop == client.StopNone && !j.State.Terminal() {
				if human {
					fmt.Fprintf(out, "%s is already running (%s)\n", pipelineLabel(p), j.State)
				}
			} else {
				if p.Stop != client.StopNone {
					if p, err = c.StartPipeline(cmd.Context(), p.ID); err != nil {
						return err
					}
				}
				// As in Arroyo, a Failed job ignores a start; a restart
				// is what brings it back.
				if j.State == client.StateFailed {
					if p, err = c.RestartPipeline(cmd.Context(), p.ID, client.PipelineRestart{}); err != nil {
						return err
					}
				}
				if human {
					fmt.Fprintf(out, "Starting %s\n", pipelineLabel(p))
				}
				if w.wait {
					if _, err := waitJob(cmd, c, p, toRun, int64(j.RunID), w.timeout); err != nil {
						return err
					}
				}
			}
			if p, err = c.GetPipeline(cmd.Context(), p.ID); err != nil {
				return err
			}
			return emit(out, f.output, p, func(io.Writer) error { return nil })
		},
	}
	w.register(cmd.Flags(), "the job is Running")
	return cmd
}

func newPipelineRestartCmd(f *clientFlags) *cobra.Command {
	var (
		force bool
		w     waitFlags
	)
	cmd := &cobra.Command{
		Use:   "restart PIPELINE",
		Short: "Restart a pipeline's job",
		Long: `Restart a pipeline's job: a running job takes a final checkpoint, stops and
is scheduled again (with --force its tasks are cancelled instead); a Failed
job starts again.`,
		Example: `  runnel pipeline restart doubled --wait
  runnel pipeline restart doubled --force`,
		Args:              exactArgs(1, "one PIPELINE (id or name)"),
		ValidArgsFunction: completePipelines(f),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, p, j, err := f.pipelineJob(cmd, args[0])
			if err != nil {
				return err
			}
			if p.Stop != client.StopNone && j.State.Terminal() && j.State != client.StateFailed {
				return usageError{fmt.Errorf("%s is %s; start it with `runnel pipeline start %s`", pipelineLabel(p), j.State, p.Name)}
			}
			var r client.PipelineRestart
			if force {
				r.Force = &force
			}
			if p, err = c.RestartPipeline(cmd.Context(), p.ID, r); err != nil {
				return err
			}
			if f.output == formatTable {
				fmt.Fprintf(cmd.OutOrStdout(), "Restarting %s\n", pipelineLabel(p))
			}
			if w.wait {
				if _, err := waitJob(cmd, c, p, toRun, int64(j.RunID), w.timeout); err != nil {
					return err
				}
				if p, err = c.GetPipeline(cmd.Context(), p.ID); err != nil {
					return err
				}
			}
			return emit(cmd.OutOrStdout(), f.output, p, func(io.Writer) error { return nil })
		},
	}
	cmd.Flags().BoolVar(&force, "force", false, "cancel the running tasks instead of stopping them with a checkpoint")
	w.register(cmd.Flags(), "the job is Running again")
	return cmd
}

func newPipelineRescaleCmd(f *clientFlags) *cobra.Command {
	var (
		parallelism int
		w           waitFlags
	)
	cmd := &cobra.Command{
		Use:   "rescale PIPELINE --parallelism P",
		Short: "Change how many parallel subtasks a pipeline runs",
		Long: `Set every node's parallelism. A running job takes a checkpoint, stops and
is scheduled again with the new parallelism, resuming from that checkpoint;
a stopped job uses it when it is started.`,
		Example:           `  runnel pipeline rescale doubled --parallelism 4 --wait`,
		Args:              exactArgs(1, "one PIPELINE (id or name)"),
		ValidArgsFunction: completePipelines(f),
		RunE: func(cmd *cobra.Command, args []string) error {
			if !cmd.Flags().Changed("parallelism") {
				return usageError{errors.New("--parallelism is required")}
			}
			if parallelism < 1 {
				return usageError{fmt.Errorf("--parallelism must be at least 1, got %d", parallelism)}
			}
			c, p, j, err := f.pipelineJob(cmd, args[0])
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			human := f.output == formatTable
			if uniformParallelism(p.Graph) == parallelism {
				if human {
					fmt.Fprintf(out, "%s already runs with parallelism %d\n", pipelineLabel(p), parallelism)
				}
				return emit(out, f.output, p, func(io.Writer) error { return nil })
			}
			if p, err = c.RescalePipeline(cmd.Context(), p.ID, parallelism); err != nil {
				return err
			}
			running := p.Stop == client.StopNone && !j.State.Terminal()
			if human {
				if running {
					fmt.Fprintf(out, "Rescaling %s to parallelism %d\n", pipelineLabel(p), parallelism)
				} else {
					fmt.Fprintf(out, "%s will run with parallelism %d when started\n", pipelineLabel(p), parallelism)
				}
			}
			if w.wait && running {
				if _, err := waitJob(cmd, c, p, toRun, int64(j.RunID), w.timeout); err != nil {
					return err
				}
				if p, err = c.GetPipeline(cmd.Context(), p.ID); err != nil {
					return err
				}
			}
			return emit(out, f.output, p, func(io.Writer) error { return nil })
		},
	}
	cmd.Flags().IntVarP(&parallelism, "parallelism", "p", 0, "the new parallelism (required)")
	w.register(cmd.Flags(), "the job runs with the new parallelism")
	return cmd
}

// uniformParallelism is the parallelism every node has, or 0 when they
// differ.
func uniformParallelism(g client.Graph) int {
	n := 0
	for i, node := range g.Nodes {
		if i > 0 && node.Parallelism != n {
			return 0
		}
		n = node.Parallelism
	}
	return n
}

// deleted is the machine-readable answer of pipeline delete.
type deleted struct {
	ID      string `json:"id"`
	Name    string `json:"name"`
	Deleted bool   `json:"deleted"`
}

func newPipelineDeleteCmd(f *clientFlags) *cobra.Command {
	var (
		stop    bool
		timeout time.Duration
	)
	cmd := &cobra.Command{
		Use:     "delete PIPELINE",
		Aliases: []string{"rm"},
		Short:   "Delete a pipeline whose job is stopped, finished or failed",
		Long: `Delete a pipeline with its job, checkpoints records and log. The job must be
Stopped, Finished or Failed; --stop stops it immediately first.`,
		Example: `  runnel pipeline delete doubled
  runnel pipeline delete doubled --stop`,
		Args:              exactArgs(1, "one PIPELINE (id or name)"),
		ValidArgsFunction: completePipelines(f),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := f.client(cmd)
			if err != nil {
				return err
			}
			p, err := resolvePipeline(cmd.Context(), c, args[0])
			if err != nil {
				return err
			}
			if stop {
				j, err := c.CurrentJob(cmd.Context(), p.ID)
				if err != nil {
					return err
				}
				if !j.State.Terminal() {
					if _, err := c.StopPipeline(cmd.Context(), p.ID, client.StopImmediate); err != nil {
						return err
					}
					if _, err := waitJob(cmd, c, p, toStop, 0, timeout); err != nil {
						return err
					}
				}
			}
			if err := c.DeletePipeline(cmd.Context(), p.ID); err != nil {
				var ae *client.APIError
				if errors.As(err, &ae) && ae.StatusCode == 400 && !stop {
					return fmt.Errorf("%w; stop it first (`runnel pipeline stop %s --wait`) or pass --stop", err, p.Name)
				}
				return err
			}
			return emit(cmd.OutOrStdout(), f.output, deleted{ID: p.ID, Name: p.Name, Deleted: true}, func(w io.Writer) error {
				_, err := fmt.Fprintf(w, "Deleted %s\n", pipelineLabel(p))
				return err
			})
		},
	}
	cmd.Flags().BoolVar(&stop, "stop", false, "stop the job immediately first if it is still running")
	cmd.Flags().DurationVar(&timeout, "timeout", 2*time.Minute, "with --stop, how long to wait for the job to stop")
	return cmd
}
