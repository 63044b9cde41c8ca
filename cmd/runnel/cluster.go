package main

import (
	"os"

	"github.com/spf13/cobra"

	"github.com/runnel-dev/runnel/internal/cluster"
	"github.com/runnel-dev/runnel/internal/config"
)

func newClusterCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "cluster",
		Short: "Run the API, controller and embedded workers in one process",
		Long: `Run Runnel in one process: the REST API and web console, the job
controller and embedded workers, with an embedded SQLite store under
--data-dir unless --database-url points elsewhere.`,
		Example: `  runnel cluster
  runnel cluster --http-addr 127.0.0.1:0 --data-dir /tmp/runnel
  RUNNEL_DATABASE_URL=postgres://postgres@127.0.0.1:5432/runnel runnel cluster`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := loadConfig(cmd)
			if err != nil {
				return err
			}
			log := newLogger(cfg, os.Stderr)
			log.Info("starting runnel", "version", versionString(), "data_dir", cfg.DataDir)
			c, err := cluster.Start(cmd.Context(), cfg, log)
			if err != nil {
				return err
			}
			return c.Wait()
		},
	}
	config.RegisterFlags(cmd.Flags())
	return cmd
}
