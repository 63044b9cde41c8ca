package main

import (
	"os"

	"github.com/spf13/cobra"
	"google.golang.org/grpc"

	"github.com/runnel-dev/runnel/internal/cluster"
	"github.com/runnel-dev/runnel/internal/config"
	"github.com/runnel-dev/runnel/internal/worker"
)

func newWorkerCmd() *cobra.Command {
	var w worker.Config
	cmd := &cobra.Command{
		Use:   "worker",
		Short: "Run one worker of a job (started by the controller's scheduler)",
		Long: `Run one worker: a share of one run of one job. Schedulers start workers
with these flags; you do not normally run it by hand. The worker registers
with the controller, runs the subtasks it is given, and exits when the run
ends or the controller is unreachable for worker.controller_timeout.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := config.Load(nil, os.Environ())
			if err != nil {
				return usageError{err}
			}
			tls := cluster.TLSConfig(cfg)
			srvOpt, err := tls.ServerOption()
			if err != nil {
				return err
			}
			dialOpt, err := tls.DialOption()
			if err != nil {
				return err
			}
			w.ServerOptions = []grpc.ServerOption{srvOpt}
			w.DialOptions = []grpc.DialOption{dialOpt}
			if !cmd.Flags().Changed("listen-addr") {
				w.ListenAddr = cfg.Worker.ListenAddr
			}
			if w.AdvertiseHost == "" {
				w.AdvertiseHost = cfg.Worker.AdvertiseHost
			}
			w.HeartbeatTimeout = cfg.Worker.ControllerTimeout
			w.Logger = newLogger(cfg, os.Stderr)
			return worker.Run(cmd.Context(), w)
		},
	}
	f := cmd.Flags()
	f.StringVar(&w.ControllerAddr, "controller-addr", "", "the controller's gRPC address")
	f.StringVar(&w.JobID, "job-id", "", "the job this worker runs")
	f.Int64Var(&w.RunID, "run-id", 0, "the job's run")
	f.StringVar(&w.WorkerID, "worker-id", "", "this worker's id")
	f.IntVar(&w.Slots, "slots", 1, "subtasks of each operator this worker runs")
	f.StringVar(&w.ListenAddr, "listen-addr", "127.0.0.1:0", "where to serve the controller and other workers")
	f.StringVar(&w.AdvertiseHost, "advertise-host", "", "host the controller and other workers reach this worker by (default: the listen host)")
	for _, name := range []string{"controller-addr", "job-id", "worker-id"} {
		_ = cmd.MarkFlagRequired(name)
	}
	return cmd
}
