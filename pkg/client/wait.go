package client

import (
	"context"
	"fmt"
	"iter"
	"slices"
	"strings"
	"time"
)

// WaitForState polls the pipeline's current job until its state is one of
// states and returns the job as last seen. It gives up when ctx ends,
// with an error that wraps ctx.Err() and names the last state seen; give
// ctx a deadline to bound the wait.
func (c *Client) WaitForState(ctx context.Context, pipelineID string, states ...JobState) (*Job, error) {
	if len(states) == 0 {
		return nil, fmt.Errorf("WaitForState: no states given")
	}
	want := make([]string, len(states))
	for i, s := range states {
		want[i] = string(s)
	}
	j, err := c.WaitForJob(ctx, pipelineID, func(j *Job) (bool, error) {
		return slices.Contains(states, j.State), nil
	})
	if err != nil {
		return j, fmt.Errorf("waiting for pipeline %s to be %s: %w", pipelineID, strings.Join(want, " or "), err)
	}
	return j, nil
}

// WaitForJob polls the pipeline's current job, calling done with every
// version it sees, until done returns true or an error, or ctx ends. It
// returns the job as last seen, also on error. When ctx ends the error
// wraps ctx.Err() and names the last state seen.
func (c *Client) WaitForJob(ctx context.Context, pipelineID string, done func(*Job) (bool, error)) (*Job, error) {
	t := time.NewTicker(c.pollInterval)
	defer t.Stop()
	var last *Job
	for {
		j, err := c.CurrentJob(ctx, pipelineID)
		if err != nil {
			if ctx.Err() != nil {
				return last, lastStateError(last, ctx.Err())
			}
			return last, err
		}
		last = j
		ok, err := done(j)
		if err != nil || ok {
			return j, err
		}
		select {
		case <-ctx.Done():
			return last, lastStateError(last, ctx.Err())
		case <-t.C:
		}
	}
}

func lastStateError(last *Job, err error) error {
	if last == nil {
		return err
	}
	return fmt.Errorf("last state %s: %w", last.State, err)
}

// FollowJobErrors yields a job's error messages oldest first and then,
// polling, each new one as it is recorded, until ctx ends (which ends the
// sequence without an error) or a request fails. tail limits how many of
// the messages that exist already are yielded: the newest tail of them,
// all of them when negative, none when 0.
func (c *Client) FollowJobErrors(ctx context.Context, pipelineID, jobID string, tail int) iter.Seq2[JobLogMessage, error] {
	return func(yield func(JobLogMessage, error) bool) {
		seen := make(map[string]bool)
		// newer fetches the messages not seen yet, newest first, stopping
		// at the first seen one.
		newer := func() ([]JobLogMessage, error) {
			var out []JobLogMessage
			for m, err := range c.JobErrors(ctx, pipelineID, jobID, &ListOptions{Limit: 50}) {
				if err != nil {
					return nil, err
				}
				if seen[m.ID] {
					break
				}
				out = append(out, m)
			}
			return out, nil
		}
		emit := func(ms []JobLogMessage, show bool) bool {
			for i := len(ms) - 1; i >= 0; i-- {
				seen[ms[i].ID] = true
				if show && !yield(ms[i], nil) {
					return false
				}
			}
			return true
		}
		initial, err := newer()
		if err != nil {
			if ctx.Err() == nil {
				yield(JobLogMessage{}, err)
			}
			return
		}
		if tail >= 0 && len(initial) > tail {
			// Older ones are marked seen without being shown.
			if !emit(initial[tail:], false) {
				return
			}
			initial = initial[:tail]
		}
		if !emit(initial, true) {
			return
		}
		t := time.NewTicker(c.pollInterval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			ms, err := newer()
			if err != nil {
				if ctx.Err() == nil {
					yield(JobLogMessage{}, err)
				}
				return
			}
			if !emit(ms, true) {
				return
			}
		}
	}
}
