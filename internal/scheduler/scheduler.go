// Package scheduler starts and stops the worker processes that run jobs
// apart from the controller. The controller asks for workers for one run of
// one job; each worker registers back over gRPC (WorkerControlService), so
// a scheduler only has to start them with the right identity and remove
// them again. Implementations: process (OS processes on this machine) and
// kubernetes (pods through client-go). The embedded mode runs subtasks in
// the controller's process and needs no scheduler.
package scheduler

import (
	"context"
	"fmt"
	"strconv"
)

// StartRequest asks for the workers of one run of one job.
type StartRequest struct {
	JobID string
	RunID int64
	// Workers is how many workers to start; each gets Slots subtask slots.
	Workers int
	Slots   int
	// ControllerAddr is the host:port of the controller's gRPC server, where
	// workers register.
	ControllerAddr string
}

// Scheduler starts and stops workers.
type Scheduler interface {
	// StartWorkers starts req.Workers workers and returns once they have
	// been asked for (not once they have registered). Worker ids are
	// WorkerID(req.JobID, req.RunID, i).
	StartWorkers(ctx context.Context, req StartRequest) error
	// StopWorkers removes the workers of a job's run, or of every run of
	// the job when runID is 0. Removing workers that are gone already is
	// not an error.
	StopWorkers(ctx context.Context, jobID string, runID int64) error
}

// ExitWatcher is implemented by schedulers that learn when a worker's
// process ends. NewRunner has them report it, so that the worker's run
// fails at once instead of after missed heartbeats.
type ExitWatcher interface {
	// WatchExits makes f be told of every worker that exits without
	// having been stopped, with why.
	WatchExits(f func(workerID string, err error))
}

// WorkerID names worker i of a run. It is unique per controller and safe in
// Kubernetes object names once lower-cased.
func WorkerID(jobID string, runID int64, i int) string {
	return fmt.Sprintf("%s-%d-%d", jobID, runID, i)
}

// WorkerArgs are the command-line arguments of `runnel` that start worker
// i of req; every scheduler starts workers with them.
func WorkerArgs(req StartRequest, i int) []string {
	return []string{
		"worker",
		"--controller-addr", req.ControllerAddr,
		"--job-id", req.JobID,
		"--run-id", strconv.FormatInt(req.RunID, 10),
		"--worker-id", WorkerID(req.JobID, req.RunID, i),
		"--slots", strconv.Itoa(req.Slots),
	}
}
