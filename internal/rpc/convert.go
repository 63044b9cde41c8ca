package rpc

import (
	"github.com/runnel-dev/runnel/internal/metrics"
	"github.com/runnel-dev/runnel/internal/output"
	pb "github.com/runnel-dev/runnel/internal/rpc/runnelpb"
)

func dataToPB(d output.Data) *pb.OutputData {
	return &pb.OutputData{
		OperatorId: d.OperatorID,
		SubtaskIdx: int64(d.SubtaskIdx),
		Timestamps: d.Timestamps,
		StartId:    d.StartID,
		Batch:      d.Batch,
		Done:       d.Done,
	}
}

func dataFromPB(p *pb.OutputData) output.Data {
	// Never nil: the preview sink always sends a list, and the SSE handler
	// encodes it as JSON ([] rather than null).
	ts := make([]int64, len(p.GetTimestamps()))
	copy(ts, p.GetTimestamps())
	return output.Data{
		OperatorID: p.GetOperatorId(),
		SubtaskIdx: int(p.GetSubtaskIdx()),
		Timestamps: ts,
		StartID:    p.GetStartId(),
		Batch:      p.GetBatch(),
		Done:       p.GetDone(),
	}
}

func groupsToPB(gs []metrics.OperatorGroup) []*pb.OperatorGroup {
	out := make([]*pb.OperatorGroup, len(gs))
	for i, g := range gs {
		mgs := make([]*pb.MetricGroup, len(g.MetricGroups))
		for j, mg := range g.MetricGroups {
			subs := make([]*pb.SubtaskMetrics, len(mg.Subtasks))
			for k, s := range mg.Subtasks {
				pts := make([]*pb.MetricPoint, len(s.Metrics))
				for l, p := range s.Metrics {
					pts[l] = &pb.MetricPoint{Time: p.Time, Value: p.Value}
				}
				subs[k] = &pb.SubtaskMetrics{Index: int64(s.Index), Metrics: pts}
			}
			mgs[j] = &pb.MetricGroup{Name: string(mg.Name), Subtasks: subs}
		}
		out[i] = &pb.OperatorGroup{NodeId: int64(g.NodeID), MetricGroups: mgs}
	}
	return out
}

// groupsFromPB converts back; lists are never nil, as the controller's are
// not, so the API's JSON reads [] rather than null.
func groupsFromPB(gs []*pb.OperatorGroup) []metrics.OperatorGroup {
	out := make([]metrics.OperatorGroup, len(gs))
	for i, g := range gs {
		mgs := make([]metrics.Group, len(g.GetMetricGroups()))
		for j, mg := range g.GetMetricGroups() {
			subs := make([]metrics.SubtaskMetrics, len(mg.GetSubtasks()))
			for k, s := range mg.GetSubtasks() {
				pts := make([]metrics.Point, len(s.GetMetrics()))
				for l, p := range s.GetMetrics() {
					pts[l] = metrics.Point{Time: p.GetTime(), Value: p.GetValue()}
				}
				subs[k] = metrics.SubtaskMetrics{Index: int(s.GetIndex()), Metrics: pts}
			}
			mgs[j] = metrics.Group{Name: metrics.Name(mg.GetName()), Subtasks: subs}
		}
		out[i] = metrics.OperatorGroup{NodeID: int(g.GetNodeId()), MetricGroups: mgs}
	}
	return out
}
