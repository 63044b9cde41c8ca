package controller

import (
	"fmt"

	"github.com/runnel-dev/runnel/internal/lifecycle"
)

// legal is the transition table: from → the states it may move to. The
// machine refuses anything else (see machine.advance), so an illegal
// transition never reaches the store.
var legal = map[lifecycle.State][]lifecycle.State{
	lifecycle.Created:            {lifecycle.Compiling, lifecycle.Failing},
	lifecycle.Compiling:          {lifecycle.Scheduling, lifecycle.Failing},
	lifecycle.Scheduling:         {lifecycle.Running, lifecycle.Stopping, lifecycle.Recovering, lifecycle.Failing},
	lifecycle.Running:            {lifecycle.Rescaling, lifecycle.CheckpointStopping, lifecycle.Recovering, lifecycle.Restarting, lifecycle.Stopping, lifecycle.Finishing, lifecycle.Failing},
	lifecycle.Rescaling:          {lifecycle.Scheduling, lifecycle.Stopping, lifecycle.Recovering, lifecycle.Failing},
	lifecycle.CheckpointStopping: {lifecycle.Stopped, lifecycle.Stopping, lifecycle.Recovering, lifecycle.Failing},
	lifecycle.Recovering:         {lifecycle.Compiling, lifecycle.Stopping, lifecycle.Failing},
	lifecycle.Restarting:         {lifecycle.Scheduling, lifecycle.Stopping, lifecycle.Recovering, lifecycle.Failing},
	lifecycle.Stopping:           {lifecycle.Stopped, lifecycle.Failing},
	lifecycle.Stopped:            {lifecycle.Compiling},
	lifecycle.Finishing:          {lifecycle.Finished, lifecycle.Failing},
	lifecycle.Finished:           nil,
	lifecycle.Failing:            {lifecycle.Failed},
	lifecycle.Failed:             {lifecycle.Compiling},
}

// Legal reports whether a job may move from one state to another.
func Legal(from, to lifecycle.State) bool {
	for _, s := range legal[from] {
		if s == to {
			return true
		}
	}
	return false
}

// IllegalTransitionError is what the machine returns instead of making an
// illegal move.
type IllegalTransitionError struct{ From, To lifecycle.State }

func (e *IllegalTransitionError) Error() string {
	return fmt.Sprintf("illegal job state transition %s → %s", e.From, e.To)
}

// resumeState is where a machine starts when the controller picks up a job
// whose last persisted state is s (after its own restart, say): work that
// was in flight is redone from compilation, stops complete, and terminal
// states stay.
func resumeState(s lifecycle.State) lifecycle.State {
	switch s {
	case lifecycle.Compiling, lifecycle.Scheduling, lifecycle.Running,
		lifecycle.Recovering, lifecycle.Rescaling, lifecycle.Restarting:
		return lifecycle.Compiling
	case lifecycle.Stopping, lifecycle.CheckpointStopping:
		return lifecycle.Stopped
	case lifecycle.Finishing:
		return lifecycle.Finished
	case lifecycle.Failing:
		return lifecycle.Failed
	}
	return s
}
