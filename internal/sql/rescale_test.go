package sql

import (
	"strings"
	"testing"
)

// A keyless aggregate needs every row in one subtask; rescaling the
// pipeline must not spread it (it would count each subtask's share apart).
func TestRescaleKeepsKeylessAggregateOnOneSubtask(t *testing.T) {
	q := `CREATE TABLE impulse WITH (connector = 'impulse', event_rate = '10');
CREATE TABLE sink WITH (connector = 'blackhole');
INSERT INTO sink SELECT tumble(interval '1 second') AS window, count(*) AS n FROM impulse GROUP BY window;`
	p, err := Plan(q, Options{Parallelism: 2})
	if err != nil {
		t.Fatal(err)
	}
	all := map[int]int{}
	for _, n := range p.View().Nodes {
		all[n.NodeID] = 3
	}
	r, err := p.WithParallelism(all)
	if err != nil {
		t.Fatal(err)
	}
	sawAgg := false
	for _, n := range r.View().Nodes {
		isAgg := strings.Contains(n.Operator, "aggregate")
		sawAgg = sawAgg || isAgg
		switch {
		case isAgg && n.Parallelism != 1:
			t.Errorf("aggregate node %d rescaled to %d", n.NodeID, n.Parallelism)
		case !isAgg && n.Parallelism != 3:
			t.Errorf("node %d (%s) has parallelism %d, want 3", n.NodeID, n.Operator, n.Parallelism)
		}
	}
	if !sawAgg {
		t.Fatalf("no aggregate node in %+v", r.View().Nodes)
	}
}
