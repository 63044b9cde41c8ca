package controller

import (
	"flag"
	"fmt"
	"os"
	"slices"
	"sync"
	"testing"

	"github.com/runnel-dev/runnel/internal/lifecycle"
)

// observed collects every transition the package's tests drive a real
// machine through.
var observed = &transitions{seen: map[[2]lifecycle.State]bool{}}

type transitions struct {
	mu    sync.Mutex
	seen  map[[2]lifecycle.State]bool
	byJob map[string][]lifecycle.State
}

func (t *transitions) add(job string, from, to lifecycle.State) {
	t.mu.Lock()
	t.seen[[2]lifecycle.State{from, to}] = true
	if t.byJob == nil {
		t.byJob = map[string][]lifecycle.State{}
	}
	t.byJob[job] = append(t.byJob[job], to)
	t.mu.Unlock()
}

// history is the states a job went through.
func (t *transitions) history(job string) []lifecycle.State {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]lifecycle.State(nil), t.byJob[job]...)
}

// TestMain checks, after a full run of the package's tests, that they
// reached every state and took every transition of the table.
func TestMain(m *testing.M) {
	flag.Parse()
	code := m.Run()
	if code == 0 && !testing.Short() && flag.Lookup("test.run").Value.String() == "" {
		if missing := observed.missing(); len(missing) > 0 {
			fmt.Fprintf(os.Stderr, "transitions of the table no test drove a job through:\n")
			for _, s := range missing {
				fmt.Fprintf(os.Stderr, "  %s\n", s)
			}
			code = 1
		}
	}
	os.Exit(code)
}

func (t *transitions) missing() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []string
	for from, tos := range legal {
		for _, to := range tos {
			if !t.seen[[2]lifecycle.State{from, to}] {
				out = append(out, fmt.Sprintf("%s → %s", from, to))
			}
		}
	}
	slices.Sort(out)
	return out
}
