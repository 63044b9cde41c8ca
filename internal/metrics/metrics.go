// Package metrics holds the per-subtask counters the engine reports and the
// operator metric groups the API serves (rates over a rolling window).
package metrics

// TaskCounters is a snapshot of one subtask's cumulative counters.
type TaskCounters struct {
	NodeID       int
	OperatorID   string
	Subtask      int
	MessagesRecv int64
	MessagesSent int64
	BytesRecv    int64
	BytesSent    int64
	// Backpressure is the share of time (0..1) the subtask spent blocked
	// sending downstream since the previous snapshot.
	Backpressure float64
	QueueSize    int64 // capacity of the subtask's input queue
	QueueRem     int64 // free slots in it now
	// LateRows is how many rows the subtask's operators dropped for
	// arriving behind the watermark.
	LateRows int64
	// Watermark is the subtask's event-time watermark in microseconds
	// since the epoch; 0 until it has one.
	Watermark int64
}

// Name of a metric as it appears on the wire.
type Name string

// Metric names.
const (
	BytesRecv    Name = "bytes_recv"
	BytesSent    Name = "bytes_sent"
	MessagesRecv Name = "messages_recv"
	MessagesSent Name = "messages_sent"
	Backpressure Name = "backpressure"
	TxQueueSize  Name = "tx_queue_size"
	TxQueueRem   Name = "tx_queue_rem"
)

// Point is one sample: time in microseconds since the epoch, and a value.
type Point struct {
	Time  int64   `json:"time"`
	Value float64 `json:"value"`
}

// SubtaskMetrics is the series of one subtask.
type SubtaskMetrics struct {
	Index   int     `json:"index"`
	Metrics []Point `json:"metrics"`
}

// Group is the series of one metric across a node's subtasks.
type Group struct {
	Name     Name             `json:"name"`
	Subtasks []SubtaskMetrics `json:"subtasks"`
}

// OperatorGroup is every metric of one graph node.
type OperatorGroup struct {
	NodeID       int     `json:"node_id"`
	MetricGroups []Group `json:"metric_groups"`
}
