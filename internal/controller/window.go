package controller

import (
	"cmp"
	"slices"
	"sync"
	"time"

	"github.com/runnel-dev/runnel/internal/metrics"
)

// window keeps, per subtask, a rolling series of rates computed from the
// engine's cumulative counters: what operator_metric_groups serves.
type window struct {
	size int

	mu     sync.Mutex
	prev   map[taskKey]sample
	series map[taskKey]map[metrics.Name][]metrics.Point
	last   []metrics.TaskCounters // the latest snapshot, for exporters
}

type taskKey struct{ node, subtask int }

type sample struct {
	at time.Time
	c  metrics.TaskCounters
}

func newWindow(size int) *window {
	w := &window{size: size}
	w.reset()
	return w
}

// reset forgets everything; a new execution's counters start from zero.
func (w *window) reset() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.prev = make(map[taskKey]sample)
	w.series = make(map[taskKey]map[metrics.Name][]metrics.Point)
	w.last = nil
}

// latest returns the most recent counter snapshot.
func (w *window) latest() []metrics.TaskCounters {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.last)
}

// add turns a counter snapshot into one point per metric and subtask.
func (w *window) add(now time.Time, counters []metrics.TaskCounters) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.last = slices.Clone(counters)
	for _, c := range counters {
		k := taskKey{c.NodeID, c.Subtask}
		prev, seen := w.prev[k]
		w.prev[k] = sample{at: now, c: c}
		if !seen {
			continue // a rate needs two samples
		}
		dt := now.Sub(prev.at).Seconds()
		if dt <= 0 {
			continue
		}
		rate := func(cur, old int64) float64 { return float64(max(cur-old, 0)) / dt }
		s := w.series[k]
		if s == nil {
			s = make(map[metrics.Name][]metrics.Point)
			w.series[k] = s
		}
		t := now.UnixMicro()
		for name, v := range map[metrics.Name]float64{
			metrics.MessagesRecv: rate(c.MessagesRecv, prev.c.MessagesRecv),
			metrics.MessagesSent: rate(c.MessagesSent, prev.c.MessagesSent),
			metrics.BytesRecv:    rate(c.BytesRecv, prev.c.BytesRecv),
			metrics.BytesSent:    rate(c.BytesSent, prev.c.BytesSent),
			metrics.Backpressure: c.Backpressure,
			metrics.TxQueueSize:  float64(c.QueueSize),
			metrics.TxQueueRem:   float64(c.QueueRem),
		} {
			pts := append(s[name], metrics.Point{Time: t, Value: v})
			if len(pts) > w.size {
				pts = slices.Clone(pts[len(pts)-w.size:])
			}
			s[name] = pts
		}
	}
}

// groups renders the series by node, metric and subtask, all sorted so that
// clients see a stable order.
func (w *window) groups() []metrics.OperatorGroup {
	w.mu.Lock()
	defer w.mu.Unlock()
	byNode := make(map[int]map[metrics.Name][]metrics.SubtaskMetrics)
	for k, s := range w.series {
		n := byNode[k.node]
		if n == nil {
			n = make(map[metrics.Name][]metrics.SubtaskMetrics)
			byNode[k.node] = n
		}
		for name, pts := range s {
			n[name] = append(n[name], metrics.SubtaskMetrics{Index: k.subtask, Metrics: slices.Clone(pts)})
		}
	}
	out := make([]metrics.OperatorGroup, 0, len(byNode))
	for node, names := range byNode {
		g := metrics.OperatorGroup{NodeID: node}
		for name, subs := range names {
			slices.SortFunc(subs, func(a, b metrics.SubtaskMetrics) int { return cmp.Compare(a.Index, b.Index) })
			g.MetricGroups = append(g.MetricGroups, metrics.Group{Name: name, Subtasks: subs})
		}
		slices.SortFunc(g.MetricGroups, func(a, b metrics.Group) int { return cmp.Compare(a.Name, b.Name) })
		out = append(out, g)
	}
	slices.SortFunc(out, func(a, b metrics.OperatorGroup) int { return cmp.Compare(a.NodeID, b.NodeID) })
	return out
}
