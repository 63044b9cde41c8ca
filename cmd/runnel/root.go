package main

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime/debug"

	"github.com/spf13/cobra"

	"github.com/runnel-dev/runnel/internal/config"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:   "runnel",
		Short: "Runnel runs streaming SQL pipelines",
		Long: `Runnel runs streaming SQL pipelines. ` + "`runnel cluster`" + ` starts a server; the other
commands talk to one at --endpoint (or $RUNNEL_ENDPOINT, default
http://127.0.0.1:5115).

Exit codes: 0 success; 1 the input was at fault (bad flags or arguments, a
missing file, SQL that does not plan, an unknown pipeline, a request the
server refused with a 4xx); 2 the server failed or could not be reached, or
a job failed; 130 interrupted while waiting.`,
		Example: `  runnel cluster &
  runnel validate -f query.sql
  runnel preview -f query.sql
  runnel pipeline create --name doubled -f doubled.sql --wait
  runnel job checkpoints doubled`,
		SilenceUsage:  true,
		SilenceErrors: true,
		// Reaching the command's own code marks errors from then on as the
		// command's; cobra's earlier ones (unknown command, wrong
		// arguments) are the user's.
		PersistentPreRun: func(cmd *cobra.Command, _ []string) {
			if ran, ok := cmd.Context().Value(ranKey{}).(*bool); ok {
				*ran = true
			}
		},
	}
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	root.AddCommand(newClusterCmd(), newAPICmd(), newControllerCmd(), newWorkerCmd(), newMigrateCmd(), newVersionCmd(),
		newPipelineCmd(), newJobCmd(), newPreviewCmd(), newValidateCmd())
	root.AddCommand(newBenchCmd(), newDeployCmd())
	root.AddGroup(&cobra.Group{ID: "client", Title: "Working with pipelines:"},
		&cobra.Group{ID: "server", Title: "Running a server:"})
	for _, c := range root.Commands() {
		switch c.Name() {
		case "cluster", "api", "controller", "worker", "migrate", "deploy":
			c.GroupID = "server"
		case "pipeline", "job", "preview", "validate":
			c.GroupID = "client"
		}
	}
	return root
}

// ranKey is the context key of the flag PersistentPreRun sets.
type ranKey struct{}

// loadConfig reads the layered configuration for a server command.
func loadConfig(cmd *cobra.Command) (config.Config, error) {
	cfg, err := config.Load(cmd.Flags(), os.Environ())
	if err != nil {
		return cfg, usageError{err}
	}
	return cfg, nil
}

func newLogger(cfg config.Config, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.LogLevel)) // validated by config
	opts := &slog.HandlerOptions{Level: level}
	if cfg.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

func versionString() string {
	v := version
	if info, ok := debug.ReadBuildInfo(); ok {
		for _, s := range info.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 12 {
				v += " (" + s.Value[:12] + ")"
			}
		}
		v += " " + info.GoVersion
	}
	return v
}

func newVersionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, err := fmt.Fprintln(cmd.OutOrStdout(), "runnel", versionString())
			return err
		},
	}
}
