package metrics

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/runnel-dev/runnel/internal/lifecycle"
)

type fakeSource struct{}

func (fakeSource) TaskCounters() map[string][]TaskCounters {
	return map[string][]TaskCounters{"job_a": {
		{NodeID: 1, OperatorID: "source_0", Subtask: 0, MessagesSent: 7, LateRows: 3, Watermark: 2_500_000},
		{NodeID: 1, OperatorID: "source_0", Subtask: 1, MessagesSent: 5},
	}}
}

func (fakeSource) JobStates() map[lifecycle.State]int {
	return map[lifecycle.State]int{lifecycle.Running: 2}
}

func TestCollector(t *testing.T) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(NewCollector(fakeSource{}))
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	series := map[string]int{}
	for _, f := range fams {
		for _, m := range f.GetMetric() {
			series[f.GetName()]++
			v := m.GetCounter().GetValue() + m.GetGauge().GetValue()
			for _, l := range m.GetLabel() {
				if l.GetName() == "subtask" && l.GetValue() == "0" || l.GetName() == "state" {
					got[f.GetName()] = v
				}
			}
		}
	}
	want := map[string]float64{
		"runnel_task_messages_sent_total": 7,
		"runnel_task_late_rows_total":     3,
		"runnel_task_watermark_seconds":   2.5,
		"runnel_jobs":                     2,
	}
	for name, v := range want {
		if got[name] != v {
			t.Errorf("%s = %v, want %v", name, got[name], v)
		}
	}
	// A subtask without a watermark exports none rather than a zero time.
	if series["runnel_task_watermark_seconds"] != 1 || series["runnel_task_messages_sent_total"] != 2 {
		t.Errorf("series counts %v", series)
	}
}
