package scheduler

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/runnel-dev/runnel/internal/engine"
	"github.com/runnel-dev/runnel/internal/metrics"
	pb "github.com/runnel-dev/runnel/internal/rpc/runnelpb"
)

// execution is an engine.Execution spread over a run's workers. It ends
// when every worker has reported the end of its share, or at once when a
// worker fails or is lost: the run's workers are then removed before Done
// closes, so that a recovery never runs beside what is left of the old run.
type execution struct {
	r     *Runner
	ru    *run
	tasks int

	done chan struct{}
	once sync.Once

	mu        sync.Mutex
	err       error
	ended     map[int]bool // by worker index
	finished  map[int]bool
	immediate bool
	// over is set once the run ends: what fails after that (an RPC cut
	// short by the end closing the workers' connections, say) is not the
	// run's error.
	over bool
}

func newExecution(r *Runner, ru *run, tasks int) *execution {
	return &execution{r: r, ru: ru, tasks: tasks, done: make(chan struct{}), ended: map[int]bool{}, finished: map[int]bool{}}
}

func (x *execution) Done() <-chan struct{} { return x.done }
func (x *execution) Tasks() int            { return x.tasks }

func (x *execution) Err() error {
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.err
}

func (x *execution) Finished() bool {
	select {
	case <-x.done:
	default:
		return false
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.err == nil && !x.immediate && len(x.finished) == len(x.ru.workers)
}

// workerEnded records that worker i's share ended.
func (x *execution) workerEnded(i int, finished bool, failure error) {
	x.mu.Lock()
	x.ended[i] = true
	if finished {
		x.finished[i] = true
	}
	all := len(x.ended) == len(x.ru.workers)
	x.mu.Unlock()
	if failure != nil {
		x.fail(failure)
		return
	}
	if all {
		x.end()
	}
}

// workerLost fails the run because a worker is gone.
func (x *execution) workerLost(id string, why error) {
	x.fail(&engine.TaskError{OperatorID: "worker", Subtask: -1, Err: engine.WithDomain(engine.DomainExternal, fmt.Errorf("worker %s lost: %w", id, why))})
}

// fail ends the run with err, unless it is being stopped at once anyway
// (then the failures of its dying subtasks mean nothing).
func (x *execution) fail(err error) {
	x.mu.Lock()
	if x.err == nil && !x.immediate && !x.over {
		x.err = err
	}
	x.mu.Unlock()
	x.end()
}

// end removes the run's workers and closes Done, once.
func (x *execution) end() {
	x.mu.Lock()
	x.over = true
	x.mu.Unlock()
	x.once.Do(func() {
		ru := x.ru
		x.r.forget(ru)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := x.r.cfg.Scheduler.StopWorkers(ctx, ru.key.job, ru.key.run); err != nil {
			x.r.log.Warn("removing the workers of an ended run", "job_id", ru.key.job, "run_id", ru.key.run, "err", err)
		}
		close(x.done)
	})
}

// watch fails the run when a worker misses its heartbeats.
func (x *execution) watch(interval, timeout time.Duration) {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-x.done:
			return
		case <-tick.C:
		}
		now := time.Now()
		var lost *workerConn
		x.r.mu.Lock()
		for _, w := range x.ru.workers {
			if now.Sub(w.lastBeat) > timeout {
				lost = w
			}
		}
		x.r.mu.Unlock()
		if lost != nil {
			x.workerLost(lost.id, fmt.Errorf("no heartbeat for %s", timeout))
		}
	}
}

// Stop asks every worker to stop. An immediate stop does not wait for
// them: their processes are removed.
func (x *execution) Stop(mode engine.StopMode) {
	if mode == engine.StopImmediate {
		x.mu.Lock()
		x.immediate = true
		x.mu.Unlock()
		go x.end()
		return
	}
	go func() {
		err := x.ru.each(context.Background(), 10*time.Second, func(ctx context.Context, w *workerConn) error {
			_, err := w.client.StopExecution(ctx, &pb.StopExecutionRequest{Worker: x.ru.ref(w)})
			return err
		})
		if err != nil {
			x.fail(fmt.Errorf("stopping workers: %w", err))
		}
	}()
}

// Checkpoint has every worker's sources inject the barrier of epoch.
func (x *execution) Checkpoint(epoch int64, final bool) error {
	select {
	case <-x.done:
		return fmt.Errorf("checkpoint %d: the run has ended", epoch)
	default:
	}
	return x.ru.each(context.Background(), 10*time.Second, func(ctx context.Context, w *workerConn) error {
		_, err := w.client.Checkpoint(ctx, &pb.CheckpointRequest{Worker: x.ru.ref(w), Epoch: epoch, Final: final})
		return err
	})
}

// Commit has every worker's two-phase sinks publish epoch.
func (x *execution) Commit(ctx context.Context, epoch int64) error {
	err := x.ru.each(ctx, time.Minute, func(ctx context.Context, w *workerConn) error {
		_, err := w.client.Commit(ctx, &pb.CommitRequest{Worker: x.ru.ref(w), Epoch: epoch})
		return err
	})
	if err != nil {
		return errors.Join(fmt.Errorf("commit epoch %d", epoch), err)
	}
	return nil
}

// Metrics is the latest counters every worker sent with its heartbeat.
func (x *execution) Metrics() []metrics.TaskCounters {
	x.r.mu.Lock()
	var out []metrics.TaskCounters
	for _, w := range x.ru.workers {
		out = append(out, w.metrics...)
	}
	x.r.mu.Unlock()
	slices.SortFunc(out, func(a, b metrics.TaskCounters) int {
		return cmp.Or(cmp.Compare(a.NodeID, b.NodeID), cmp.Compare(a.Subtask, b.Subtask))
	})
	return out
}
