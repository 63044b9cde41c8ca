package metrics

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/runnel-dev/runnel/internal/lifecycle"
)

// Source supplies what the collector exports: each job's latest per-subtask
// counters, and how many jobs are in each state.
type Source interface {
	TaskCounters() map[string][]TaskCounters
	JobStates() map[lifecycle.State]int
}

// Collector exports a Source in the Prometheus format. It reads the source
// at scrape time, so nothing is kept twice.
type Collector struct {
	src Source

	msgRecv, msgSent, bytesRecv, bytesSent *prometheus.Desc
	backpressure, queueSize, queueFree     *prometheus.Desc
	lateRows, watermark                    *prometheus.Desc
	jobs                                   *prometheus.Desc
}

// NewCollector returns a collector over src.
func NewCollector(src Source) *Collector {
	labels := []string{"job_id", "node_id", "operator_id", "subtask"}
	d := func(name, help string) *prometheus.Desc {
		return prometheus.NewDesc("runnel_task_"+name, help, labels, nil)
	}
	return &Collector{
		src:          src,
		msgRecv:      d("messages_received_total", "Rows a subtask has received."),
		msgSent:      d("messages_sent_total", "Rows a subtask has sent downstream or into its sink."),
		bytesRecv:    d("bytes_received_total", "Bytes of Arrow data a subtask has received."),
		bytesSent:    d("bytes_sent_total", "Bytes of Arrow data a subtask has sent."),
		backpressure: d("backpressure_ratio", "Share of time the subtask was blocked sending downstream."),
		queueSize:    d("queue_capacity_batches", "Capacity of the subtask's input queue."),
		queueFree:    d("queue_free_batches", "Free slots in the subtask's input queue."),
		lateRows:     d("late_rows_total", "Rows dropped for arriving behind the watermark."),
		watermark:    d("watermark_seconds", "The subtask's event-time watermark, in seconds since the epoch."),
		jobs:         prometheus.NewDesc("runnel_jobs", "Jobs the controller is driving, by state.", []string{"state"}, nil),
	}
}

// Describe implements prometheus.Collector.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.msgRecv, c.msgSent, c.bytesRecv, c.bytesSent, c.backpressure, c.queueSize, c.queueFree, c.lateRows, c.watermark, c.jobs} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	for job, tasks := range c.src.TaskCounters() {
		for _, t := range tasks {
			lv := []string{job, strconv.Itoa(t.NodeID), t.OperatorID, strconv.Itoa(t.Subtask)}
			ch <- prometheus.MustNewConstMetric(c.msgRecv, prometheus.CounterValue, float64(t.MessagesRecv), lv...)
			ch <- prometheus.MustNewConstMetric(c.msgSent, prometheus.CounterValue, float64(t.MessagesSent), lv...)
			ch <- prometheus.MustNewConstMetric(c.bytesRecv, prometheus.CounterValue, float64(t.BytesRecv), lv...)
			ch <- prometheus.MustNewConstMetric(c.bytesSent, prometheus.CounterValue, float64(t.BytesSent), lv...)
			ch <- prometheus.MustNewConstMetric(c.backpressure, prometheus.GaugeValue, t.Backpressure, lv...)
			ch <- prometheus.MustNewConstMetric(c.queueSize, prometheus.GaugeValue, float64(t.QueueSize), lv...)
			ch <- prometheus.MustNewConstMetric(c.queueFree, prometheus.GaugeValue, float64(t.QueueRem), lv...)
			ch <- prometheus.MustNewConstMetric(c.lateRows, prometheus.CounterValue, float64(t.LateRows), lv...)
			if t.Watermark > 0 {
				ch <- prometheus.MustNewConstMetric(c.watermark, prometheus.GaugeValue, float64(t.Watermark)/1e6, lv...)
			}
		}
	}
	for state, n := range c.src.JobStates() {
		ch <- prometheus.MustNewConstMetric(c.jobs, prometheus.GaugeValue, float64(n), string(state))
	}
}
