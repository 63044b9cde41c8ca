// Package lifecycle names the states a job moves through, the stop modes a
// user can ask for, and the action a client should offer in each state. Both
// the API and the controller depend on it; it depends on nothing.
package lifecycle

import "fmt"

// State is the name of a job's controller state, exactly as stored and
// returned by the API.
type State string

// The fourteen job states.
const (
	Created            State = "Created"
	Compiling          State = "Compiling"
	Scheduling         State = "Scheduling"
	Running            State = "Running"
	Rescaling          State = "Rescaling"
	CheckpointStopping State = "CheckpointStopping"
	Recovering         State = "Recovering"
	Restarting         State = "Restarting"
	Stopping           State = "Stopping"
	Stopped            State = "Stopped"
	Finishing          State = "Finishing"
	Finished           State = "Finished"
	Failing            State = "Failing"
	Failed             State = "Failed"
)

// States lists every state in lifecycle order.
var States = []State{
	Created, Compiling, Scheduling, Running, Rescaling, CheckpointStopping,
	Recovering, Restarting, Stopping, Stopped, Finishing, Finished, Failing, Failed,
}

// ParseState maps a stored state name to a State. An empty name is Created,
// which is what a job is until the controller first writes its status.
func ParseState(s string) (State, error) {
	if s == "" {
		return Created, nil
	}
	for _, st := range States {
		if string(st) == s {
			return st, nil
		}
	}
	return "", fmt.Errorf("unknown job state %q", s)
}

// Terminal reports whether no work happens in the state until the user acts.
func (s State) Terminal() bool {
	return s == Stopped || s == Finished || s == Failed
}

// StopMode is the desired stop behaviour written by PATCH /pipelines/{id}.
// StopNone means the job should run.
type StopMode string

// Stop modes, as they appear on the wire.
const (
	StopNone       StopMode = "none"
	StopCheckpoint StopMode = "checkpoint"
	StopGraceful   StopMode = "graceful"
	StopImmediate  StopMode = "immediate"
	StopForce      StopMode = "force"
)

// StopModes lists the valid stop modes.
var StopModes = []StopMode{StopNone, StopCheckpoint, StopGraceful, StopImmediate, StopForce}

// ParseStopMode validates a wire value.
func ParseStopMode(s string) (StopMode, error) {
	for _, m := range StopModes {
		if string(m) == s {
			return m, nil
		}
	}
	return "", fmt.Errorf("unknown stop mode %q: expected one of none, checkpoint, graceful, immediate, force", s)
}

// Action is what a client should offer the user for a job: a button label,
// the stop mode to PATCH when it is pressed (nil: nothing to press) and
// whether something is already under way.
type Action struct {
	Text       string
	Stop       *StopMode
	InProgress bool
}

func act(text string, stop StopMode, inProgress bool) Action {
	return Action{Text: text, Stop: &stop, InProgress: inProgress}
}

func wait(text string, inProgress bool) Action {
	return Action{Text: text, InProgress: inProgress}
}

// ActionFor derives the action from the job's state and whether the user
// wants it running. Unlike the reference system it never panics: an unknown
// state offers nothing.
func ActionFor(s State, runningDesired bool) Action {
	if runningDesired {
		switch s {
		case Created, Compiling, Scheduling, Rescaling, Recovering, Restarting:
			return act("Stop", StopCheckpoint, true)
		case Running:
			return act("Stop", StopCheckpoint, false)
		case CheckpointStopping:
			return act("Force Stop", StopImmediate, true)
		case Stopping:
			return act("Stopping", StopCheckpoint, true)
		case Stopped:
			return wait("Starting", true)
		case Finishing:
			return wait("Finishing", true)
		case Finished:
			return wait("Finished", false)
		case Failing:
			return wait("Failing", true)
		case Failed:
			return wait("Failed", false)
		}
		return wait(string(s), false)
	}
	switch s {
	case Created, Stopped, Failed:
		return act("Start", StopNone, false)
	case Compiling, Scheduling, Running, Rescaling, Recovering, Restarting, Stopping:
		return wait("Stopping", true)
	case CheckpointStopping:
		return act("Force Stop", StopImmediate, true)
	case Finishing:
		return wait("Finishing", true)
	case Finished:
		return wait("Finished", false)
	case Failing:
		return wait("Failing", true)
	}
	return wait(string(s), false)
}
