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
		Short: "Run the API, controller and workers in one process",
		Long: `Run Runnel in one process: the REST API and web console, the job
controller and embedded workers, with an embedded SQLite store under
--data-dir unless --database-url points elsewhere. With --scheduler process
the workers run as child processes instead.`,
		Example: `  runnel cluster
  runnel cluster --http-addr 127.0.0.1:0 --data-dir /tmp/runnel
  RUNNEL_DATABASE_URL=postgres://postgres@127.0.0.1:5432/runnel runnel cluster`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runRoles(cmd, cluster.Roles{API: true, Controller: true})
		},
	}
	config.RegisterFlags(cmd.Flags())
	return cmd
}

func newAPICmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "api",
		Short: "Run the REST API and web console alone",
		Long: `Run the REST API and web console without a controller. The API reaches
the controller over gRPC: at api.controller_addr (--controller-addr), or, on
PostgreSQL, at whichever controller holds the leader lease. Any number of API
servers can share one PostgreSQL store.`,
		Example: `  runnel api --database-url postgres://postgres@127.0.0.1:5432/runnel --http-addr 0.0.0.0:5115`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runRoles(cmd, cluster.Roles{API: true})
		},
	}
	config.RegisterFlags(cmd.Flags())
	cmd.Flags().String("controller-addr", "", "the controller's gRPC address (default: the leader recorded in PostgreSQL)")
	return cmd
}

func newControllerCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "controller",
		Short: "Run the job controller alone",
		Long: `Run the job controller: it drives every job's state machine and starts
workers with controller.scheduler (embedded, process or kubernetes). It
serves API servers and workers over gRPC at --grpc-addr. On PostgreSQL
several controllers may run: one holds the leader lease and runs the jobs,
the others wait and take over when it dies.`,
		Example: `  runnel controller --database-url postgres://postgres@127.0.0.1:5432/runnel --scheduler process`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runRoles(cmd, cluster.Roles{Controller: true})
		},
	}
	config.RegisterFlags(cmd.Flags())
	return cmd
}

func runRoles(cmd *cobra.Command, roles cluster.Roles) error {
	cfg, err := loadConfig(cmd)
	if err != nil {
		return err
	}
	if f := cmd.Flags().Lookup("controller-addr"); f != nil && f.Changed {
		cfg.API.ControllerAddr = f.Value.String()
	}
	log := newLogger(cfg, os.Stderr)
	log.Info("starting runnel", "version", versionString(), "api", roles.API, "controller", roles.Controller, "data_dir", cfg.DataDir)
	c, err := cluster.StartRoles(cmd.Context(), cfg, log, roles)
	if err != nil {
		return err
	}
	return c.Wait()
}
