package rpc

import (
	"errors"
	"time"

	"github.com/runnel-dev/runnel/internal/engine"
	"github.com/runnel-dev/runnel/internal/metrics"
	"github.com/runnel-dev/runnel/internal/output"
	pb "github.com/runnel-dev/runnel/internal/rpc/runnelpb"
	"github.com/runnel-dev/runnel/internal/state"
)

// Conversions between engine values and their controller<->worker
// messages. Times travel as microseconds since the Unix epoch; the zero
// time as 0.

func micros(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMicro()
}

func fromMicros(us int64) time.Time {
	if us == 0 {
		return time.Time{}
	}
	return time.UnixMicro(us)
}

// OutputToPB and OutputFromPB carry preview rows.
func OutputToPB(d output.Data) *pb.OutputData { return dataToPB(d) }

// OutputFromPB is the inverse of OutputToPB.
func OutputFromPB(p *pb.OutputData) output.Data { return dataFromPB(p) }

// TaskMetricsToPB converts subtask counters for a heartbeat.
func TaskMetricsToPB(cs []metrics.TaskCounters) []*pb.TaskMetrics {
	out := make([]*pb.TaskMetrics, len(cs))
	for i, c := range cs {
		out[i] = &pb.TaskMetrics{
			NodeId: int64(c.NodeID), OperatorId: c.OperatorID, Subtask: int64(c.Subtask),
			MessagesRecv: c.MessagesRecv, MessagesSent: c.MessagesSent,
			BytesRecv: c.BytesRecv, BytesSent: c.BytesSent,
			Backpressure: c.Backpressure, QueueSize: c.QueueSize, QueueRem: c.QueueRem,
			LateRows: c.LateRows, Watermark: c.Watermark,
		}
	}
	return out
}

// TaskMetricsFromPB is the inverse of TaskMetricsToPB.
func TaskMetricsFromPB(ps []*pb.TaskMetrics) []metrics.TaskCounters {
	out := make([]metrics.TaskCounters, len(ps))
	for i, p := range ps {
		out[i] = metrics.TaskCounters{
			NodeID: int(p.GetNodeId()), OperatorID: p.GetOperatorId(), Subtask: int(p.GetSubtask()),
			MessagesRecv: p.GetMessagesRecv(), MessagesSent: p.GetMessagesSent(),
			BytesRecv: p.GetBytesRecv(), BytesSent: p.GetBytesSent(),
			Backpressure: p.GetBackpressure(), QueueSize: p.GetQueueSize(), QueueRem: p.GetQueueRem(),
			LateRows: p.GetLateRows(), Watermark: p.GetWatermark(),
		}
	}
	return out
}

// ReportToPB converts a subtask's checkpoint report.
func ReportToPB(w *pb.WorkerRef, r engine.CheckpointReport) *pb.ReportCheckpointRequest {
	p := &pb.ReportCheckpointRequest{
		Worker: w, Epoch: r.Epoch, NodeId: int64(r.NodeID), OperatorId: r.OperatorID, Subtask: int64(r.Subtask),
		AlignmentStarted: micros(r.AlignmentStarted), CheckpointStarted: micros(r.CheckpointStarted),
		SyncFinished: micros(r.SyncFinished), Finished: micros(r.Finished),
		Bytes: r.Bytes, Rows: r.Rows, HasState: r.HasState, Committing: r.Committing,
	}
	for _, f := range r.Files {
		p.Files = append(p.Files, &pb.StateFile{Key: f.Key, Size: f.Bytes, Crc32C: f.CRC})
	}
	if r.Err != nil {
		p.Error = r.Err.Error()
	}
	return p
}

// ReportFromPB is the inverse of ReportToPB.
func ReportFromPB(p *pb.ReportCheckpointRequest) engine.CheckpointReport {
	r := engine.CheckpointReport{
		Epoch: p.GetEpoch(), NodeID: int(p.GetNodeId()), OperatorID: p.GetOperatorId(), Subtask: int(p.GetSubtask()),
		AlignmentStarted: fromMicros(p.GetAlignmentStarted()), CheckpointStarted: fromMicros(p.GetCheckpointStarted()),
		SyncFinished: fromMicros(p.GetSyncFinished()), Finished: fromMicros(p.GetFinished()),
		Bytes: p.GetBytes(), Rows: p.GetRows(), HasState: p.GetHasState(), Committing: p.GetCommitting(),
	}
	for _, f := range p.GetFiles() {
		r.Files = append(r.Files, state.FileInfo{Key: f.GetKey(), Bytes: f.GetSize(), CRC: f.GetCrc32C()})
	}
	if p.GetError() != "" {
		r.Err = errors.New(p.GetError())
	}
	return r
}

// FailureToPB describes an execution's error; nil for none. An error that
// is not a *engine.TaskError is reported against the worker as a whole.
func FailureToPB(err error) *pb.TaskFailure {
	if err == nil {
		return nil
	}
	f := &pb.TaskFailure{Message: err.Error(), Domain: string(engine.DomainOf(err)), Subtask: -1}
	var te *engine.TaskError
	if errors.As(err, &te) {
		f.OperatorId, f.Subtask, f.Message = te.OperatorID, int64(te.Subtask), te.Err.Error()
	}
	return f
}

// FailureFromPB is the inverse of FailureToPB: a *engine.TaskError whose
// cause carries the reported domain.
func FailureFromPB(f *pb.TaskFailure) error {
	if f == nil {
		return nil
	}
	cause := engine.WithDomain(engine.ErrorDomain(f.GetDomain()), errors.New(f.GetMessage()))
	if f.GetDomain() == "" {
		cause = errors.New(f.GetMessage())
	}
	return &engine.TaskError{OperatorID: f.GetOperatorId(), Subtask: int(f.GetSubtask()), Err: cause}
}

// PlanToPB converts what a program was planned from.
func PlanToPB(s engine.PlanSource) *pb.PlanSpec {
	p := &pb.PlanSpec{Query: s.Query, Parallelism: int64(s.Parallelism), Preview: s.Preview, EnableSinks: s.EnableSinks}
	if len(s.Overrides) > 0 {
		p.Overrides = make(map[int64]int64, len(s.Overrides))
		for k, v := range s.Overrides {
			p.Overrides[int64(k)] = int64(v)
		}
	}
	return p
}

// PlanFromPB is the inverse of PlanToPB.
func PlanFromPB(p *pb.PlanSpec) engine.PlanSource {
	s := engine.PlanSource{Query: p.GetQuery(), Parallelism: int(p.GetParallelism()), Preview: p.GetPreview(), EnableSinks: p.GetEnableSinks()}
	if ov := p.GetOverrides(); len(ov) > 0 {
		s.Overrides = make(map[int]int, len(ov))
		for k, v := range ov {
			s.Overrides[int(k)] = int(v)
		}
	}
	return s
}
