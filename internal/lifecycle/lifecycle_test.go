package lifecycle

import "testing"

func TestActionForEveryState(t *testing.T) {
	type want struct {
		text       string
		stop       string // "" means no action
		inProgress bool
	}
	cases := []struct {
		state     State
		desired   want // running desired
		undesired want // stop requested
	}{
		{Created, want{"Stop", "checkpoint", true}, want{"Start", "none", false}},
		{Compiling, want{"Stop", "checkpoint", true}, want{"Stopping", "", true}},
		{Scheduling, want{"Stop", "checkpoint", true}, want{"Stopping", "", true}},
		{Running, want{"Stop", "checkpoint", false}, want{"Stopping", "", true}},
		{Rescaling, want{"Stop", "checkpoint", true}, want{"Stopping", "", true}},
		{CheckpointStopping, want{"Force Stop", "immediate", true}, want{"Force Stop", "immediate", true}},
		{Recovering, want{"Stop", "checkpoint", true}, want{"Stopping", "", true}},
		{Restarting, want{"Stop", "checkpoint", true}, want{"Stopping", "", true}},
		{Stopping, want{"Stopping", "checkpoint", true}, want{"Stopping", "", true}},
		{Stopped, want{"Starting", "", true}, want{"Start", "none", false}},
		{Finishing, want{"Finishing", "", true}, want{"Finishing", "", true}},
		{Finished, want{"Finished", "", false}, want{"Finished", "", false}},
		{Failing, want{"Failing", "", true}, want{"Failing", "", true}},
		{Failed, want{"Failed", "", false}, want{"Start", "none", false}},
	}
	if len(cases) != len(States) || len(States) != 14 {
		t.Fatalf("table covers %d states, lifecycle has %d", len(cases), len(States))
	}
	for _, c := range cases {
		for _, desired := range []bool{true, false} {
			w := c.undesired
			if desired {
				w = c.desired
			}
			got := ActionFor(c.state, desired)
			stop := ""
			if got.Stop != nil {
				stop = string(*got.Stop)
			}
			if got.Text != w.text || stop != w.stop || got.InProgress != w.inProgress {
				t.Errorf("ActionFor(%s, %v) = (%q, %q, %v), want (%q, %q, %v)",
					c.state, desired, got.Text, stop, got.InProgress, w.text, w.stop, w.inProgress)
			}
		}
	}
}

func TestActionForUnknownStateOffersNothing(t *testing.T) {
	for _, desired := range []bool{true, false} {
		a := ActionFor(State("Bogus"), desired)
		if a.Stop != nil || a.InProgress {
			t.Fatalf("unknown state offered %+v", a)
		}
	}
}

func TestParse(t *testing.T) {
	for _, s := range States {
		got, err := ParseState(string(s))
		if err != nil || got != s {
			t.Fatalf("ParseState(%q) = %q, %v", s, got, err)
		}
	}
	if s, err := ParseState(""); err != nil || s != Created {
		t.Fatalf("empty state = %q, %v", s, err)
	}
	if _, err := ParseState("running"); err == nil {
		t.Fatal("state names are case-sensitive")
	}
	for _, m := range StopModes {
		if got, err := ParseStopMode(string(m)); err != nil || got != m {
			t.Fatalf("ParseStopMode(%q) = %q, %v", m, got, err)
		}
	}
	if _, err := ParseStopMode("pause"); err == nil {
		t.Fatal("unknown stop mode accepted")
	}
	for _, s := range States {
		if want := s == Stopped || s == Finished || s == Failed; s.Terminal() != want {
			t.Fatalf("%s.Terminal() = %v", s, !want)
		}
	}
}
