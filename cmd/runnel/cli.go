package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/runnel-dev/runnel/pkg/client"
)

// endpointEnv names the environment variable that sets --endpoint.
const endpointEnv = "RUNNEL_ENDPOINT"

// clientFlags are the flags of every command that talks to a server. Each
// command group owns one instance, filled in by flag parsing.
type clientFlags struct {
	endpoint string
	output   outputFormat
}

func newClientFlags() *clientFlags {
	return &clientFlags{endpoint: client.DefaultEndpoint, output: formatTable}
}

func (f *clientFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&f.endpoint, "endpoint", f.endpoint, "Runnel API endpoint (env "+endpointEnv+")")
	fs.VarP(&f.output, "output", "o", "output format: table, json or yaml")
}

func (f *clientFlags) registerCompletions(cmd *cobra.Command) {
	_ = cmd.RegisterFlagCompletionFunc("output", completeFormats)
}

// client connects to --endpoint, or else $RUNNEL_ENDPOINT, or else the
// default local address.
func (f *clientFlags) client(cmd *cobra.Command, opts ...client.Option) (*client.Client, error) {
	ep := f.endpoint
	if fl := cmd.Flags().Lookup("endpoint"); (fl == nil || !fl.Changed) && os.Getenv(endpointEnv) != "" {
		ep = os.Getenv(endpointEnv)
	}
	// The server keeps no backlog of preview output, so the preview
	// polls fast to subscribe as soon as its job runs.
	c, err := client.New(ep, append([]client.Option{client.WithUserAgent("runnel-cli/" + version)}, opts...)...)
	if err != nil {
		return nil, usageError{fmt.Errorf("--endpoint: %w", err)}
	}
	return c, nil
}

// silentError is an error whose details the command already printed;
// main only sets the exit code.
type silentError struct {
	error
	code int
}

func (e silentError) Unwrap() error { return e.error }

// jobFailedError is a wait that ended with the job Failed.
type jobFailedError struct {
	pipeline string // for messages
	ref      string // for commands: a name, or an id where there is no name
	job      client.Job
}

func (e *jobFailedError) Error() string {
	msg := fmt.Sprintf("%s failed", e.pipeline)
	if f := e.job.FailureReason; f != nil {
		msg += ": " + f.Error
	}
	return msg + fmt.Sprintf(" (see `runnel job errors %s`)", e.ref)
}

// exitCode maps an error to the exit status scripts can rely on: 1 when
// the user's input was at fault (bad flags or arguments, a missing file,
// SQL that does not plan, an unknown pipeline, any 4xx answer), 2 when
// the server failed or could not be reached, 130 when interrupted.
func exitCode(err error) int {
	if err == nil {
		return 0
	}
	var (
		se silentError
		ue usageError
		ae *client.APIError
		ce *client.ConnectionError
		jf *jobFailedError
	)
	switch {
	case errors.As(err, &se):
		return se.code
	case errors.As(err, &ue):
		return 1
	case errors.As(err, &ce):
		return 2
	case errors.As(err, &ae):
		if ae.ClientError() {
			return 1
		}
		return 2
	case errors.As(err, &jf):
		if f := jf.job.FailureReason; f != nil && f.Domain == "user" {
			return 1
		}
		return 2
	case errors.Is(err, context.Canceled):
		return 130
	}
	return 2
}

// readQuery reads the SQL file named by -f; "-" is standard input.
func readQuery(cmd *cobra.Command, path string) (string, error) {
	if path == "" {
		return "", usageError{errors.New("no query: pass -f FILE (or -f - to read standard input)")}
	}
	var (
		b   []byte
		err error
	)
	if path == "-" {
		b, err = io.ReadAll(cmd.InOrStdin())
	} else {
		b, err = os.ReadFile(path)
	}
	if err != nil {
		return "", usageError{fmt.Errorf("reading query: %w", err)}
	}
	if strings.TrimSpace(string(b)) == "" {
		return "", usageError{fmt.Errorf("%s is empty", displayName(path))}
	}
	return string(b), nil
}

func displayName(path string) string {
	if path == "-" {
		return "standard input"
	}
	return path
}

// resolvePipeline finds a pipeline by id or, failing that, by its name,
// which must be unique. Previews are found by id only (lists hide them).
// pipelineJob connects, finds the pipeline an argument names and its
// current job: the start of every command that acts on a job.
func (f *clientFlags) pipelineJob(cmd *cobra.Command, arg string) (*client.Client, *client.Pipeline, *client.Job, error) {
	c, err := f.client(cmd)
	if err != nil {
		return nil, nil, nil, err
	}
	p, err := resolvePipeline(cmd.Context(), c, arg)
	if err != nil {
		return nil, nil, nil, err
	}
	j, err := c.CurrentJob(cmd.Context(), p.ID)
	if err != nil {
		return nil, nil, nil, err
	}
	return c, p, j, nil
}

func resolvePipeline(ctx context.Context, c *client.Client, arg string) (*client.Pipeline, error) {
	if arg == "" {
		return nil, usageError{errors.New("empty pipeline id or name")}
	}
	if strings.HasPrefix(arg, "pl_") {
		p, err := c.GetPipeline(ctx, arg)
		if err == nil {
			return p, nil
		}
		if !client.IsNotFound(err) {
			return nil, err
		}
	}
	var matches []client.Pipeline
	for p, err := range c.Pipelines(ctx, &client.ListOptions{Limit: 100}) {
		if err != nil {
			return nil, err
		}
		if p.Name == arg {
			matches = append(matches, p)
		}
	}
	switch len(matches) {
	case 0:
		return nil, usageError{fmt.Errorf("no pipeline with id or name %q (see `runnel pipeline list`)", arg)}
	case 1:
		return &matches[0], nil
	}
	ids := make([]string, len(matches))
	for i, m := range matches {
		ids[i] = m.ID
	}
	return nil, usageError{fmt.Errorf("%d pipelines are named %q (%s): use an id", len(matches), arg, strings.Join(ids, ", "))}
}

// pipelineLabel names a pipeline for messages: its name and id.
func pipelineLabel(p *client.Pipeline) string {
	if p.Preview {
		return "preview " + p.ID
	}
	return fmt.Sprintf("%s (%s)", p.Name, p.ID)
}

// completePipelines offers the server's pipeline names for arguments.
func completePipelines(f *clientFlags) cobra.CompletionFunc {
	return func(cmd *cobra.Command, args []string, _ string) ([]string, cobra.ShellCompDirective) {
		if len(args) > 0 {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		c, err := f.client(cmd)
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		ctx, cancel := context.WithTimeout(cmd.Context(), 3*time.Second)
		defer cancel()
		var names []string
		for p, err := range c.Pipelines(ctx, &client.ListOptions{Limit: 100}) {
			if err != nil {
				break
			}
			names = append(names, p.Name+"\t"+p.ID)
		}
		return names, cobra.ShellCompDirectiveNoFileComp
	}
}

// waitFlags are the flags of commands that can wait for the outcome.
type waitFlags struct {
	wait    bool
	timeout time.Duration
}

func (w *waitFlags) register(fs *pflag.FlagSet, what string) {
	fs.BoolVar(&w.wait, "wait", false, "wait until "+what)
	fs.DurationVar(&w.timeout, "timeout", 2*time.Minute, "give up waiting after this long")
}

// target is what a wait waits for.
type target int

const (
	toRun  target = iota // Running in a run newer than the one before the change
	toStop               // a terminal state
)

// waitJob waits for the pipeline's job to reach t, showing progress on
// stderr, and returns the job as it ended up. afterRun is the job's run id
// before the change (-1 for a new pipeline): a Running job of an older
// run is still on its way.
func waitJob(cmd *cobra.Command, c *client.Client, p *client.Pipeline, t target, afterRun int64, timeout time.Duration) (*client.Job, error) {
	ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
	defer cancel()
	label := p.Name
	if p.Preview {
		label = "preview"
	}
	prog := newProgress(cmd.ErrOrStderr(), isTerminal(cmd.ErrOrStderr()), label)
	var first client.JobState
	moved := false
	reached := func(j *client.Job) (bool, error) {
		if first == "" {
			first = j.State
		} else if j.State != first {
			moved = true
		}
		newRun := int64(j.RunID) > afterRun
		switch t {
		case toStop:
			return j.State.Terminal(), nil
		default:
			switch {
			case j.State == client.StateRunning && newRun:
				return true, nil
			case j.State == client.StateFailed && (newRun || moved):
				return false, &jobFailedError{pipeline: p.Name, ref: p.Name, job: *j}
			case j.State == client.StateFinished && (newRun || moved):
				return true, nil
			case j.State == client.StateStopped && moved:
				return false, fmt.Errorf("%s was stopped while starting", p.Name)
			}
			return false, nil
		}
	}
	j, err := c.WaitForJob(ctx, p.ID, func(j *client.Job) (bool, error) {
		done, err := reached(j)
		if !done && err == nil {
			prog.update(string(j.State)) // the final state is finish's to show
		}
		return done, err
	})
	if err != nil {
		msg := "gave up"
		if j != nil {
			msg = string(j.State)
		}
		prog.finish(false, msg)
		if errors.Is(err, context.DeadlineExceeded) && cmd.Context().Err() == nil {
			state := "unknown"
			if j != nil {
				state = string(j.State)
			}
			return j, fmt.Errorf("timed out after %s waiting for %s (last state: %s)", timeout, pipelineLabel(p), state)
		}
		return j, err
	}
	prog.finish(true, string(j.State))
	return j, nil
}

// stateOf returns the job's state, or "-" when there is no job.
func stateOf(jobs map[string]client.Job, pipelineID string) string {
	if j, ok := jobs[pipelineID]; ok {
		return string(j.State)
	}
	return "-"
}

func stopModeNames() []string {
	var out []string
	for _, m := range client.StopModes() {
		if m != client.StopNone {
			out = append(out, string(m))
		}
	}
	return out
}

func validStopMode(s string) (client.StopMode, error) {
	m := client.StopMode(s)
	if m == client.StopNone || !slices.Contains(client.StopModes(), m) {
		return "", usageError{fmt.Errorf("--mode %q: must be one of %s", s, strings.Join(stopModeNames(), ", "))}
	}
	return m, nil
}

// exactArgs is cobra.ExactArgs whose error counts as a usage error.
func exactArgs(n int, what string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) != n {
			return usageError{fmt.Errorf("%s takes %s, got %d arguments (see `%s --help`)", cmd.CommandPath(), what, len(args), cmd.CommandPath())}
		}
		return nil
	}
}

// maxArgs is cobra.MaximumNArgs as a usage error.
func maxArgs(n int, what string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) > n {
			return usageError{fmt.Errorf("%s takes at most %s, got %d arguments", cmd.CommandPath(), what, len(args))}
		}
		return nil
	}
}

// groupCmd is a command that only holds subcommands: run bare it prints
// its help; with an unknown subcommand it fails as a usage error (cobra
// would print the help and exit 0, which hides typos in scripts).
func groupCmd(use, short, long string) *cobra.Command {
	return &cobra.Command{
		Use:   use,
		Short: short,
		Long:  long,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return usageError{fmt.Errorf("unknown command %q for %q (see `%s --help`)", args[0], cmd.CommandPath(), cmd.CommandPath())}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
}
