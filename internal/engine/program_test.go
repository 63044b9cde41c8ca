package engine

import (
	"context"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
)

type nopSource struct{}

func (nopSource) Run(context.Context, <-chan struct{}, Collector) error { return nil }

type nopOp struct{}

func (nopOp) Process(context.Context, arrow.RecordBatch, Collector) error { return nil }
func (nopOp) Finish(context.Context, Collector) error                     { return nil }

func src(id string) OperatorSpec {
	return OperatorSpec{ID: id, Kind: KindSource, Name: "test source", Description: "src",
		NewSource: func(TaskInfo) (Source, error) { return nopSource{}, nil }}
}

func op(id string, kind OperatorKind, name string) OperatorSpec {
	return OperatorSpec{ID: id, Kind: kind, Name: name, Description: id, Preview: name == "preview sink",
		NewOperator: func(TaskInfo) (Operator, error) { return nopOp{}, nil }}
}

func testProgram(t *testing.T) *Program {
	t.Helper()
	p, err := NewProgram([]*Node{
		{ID: 1, Parallelism: 2, Chain: []OperatorSpec{src("s_0"), op("f_1", KindTransform, "filter")}},
		{ID: 2, Parallelism: 2, Chain: []OperatorSpec{op("k_2", KindSink, "blackhole sink")}},
		{ID: 3, Parallelism: 1, Chain: []OperatorSpec{op("k_2_1", KindSink, "preview sink")}},
	}, []Edge{{Src: 1, Dest: 2, Type: Forward}, {Src: 1, Dest: 3, Type: Shuffle}})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestProgramView(t *testing.T) {
	p := testProgram(t)
	v := p.View()
	if len(v.Nodes) != 3 || len(v.Edges) != 2 {
		t.Fatalf("view %+v", v)
	}
	n := v.Nodes[0]
	if n.NodeID != 1 || n.Operator != "test source -> filter" || n.Description != "src -> f_1" || n.Parallelism != 2 {
		t.Errorf("node %+v", n)
	}
	if !strings.Contains(v.Nodes[2].Operator, "preview") {
		t.Errorf("preview node operator %q", v.Nodes[2].Operator)
	}
	if v.Edges[0].EdgeType != "Forward" || v.Edges[1].EdgeType != "Shuffle" || v.Edges[0].KeyType != "()" {
		t.Errorf("edges %+v", v.Edges)
	}
	if !p.HasPreviewSink() || p.Tasks() != 5 || p.Node(2).OperatorID() != "k_2" {
		t.Errorf("HasPreviewSink=%v Tasks=%d", p.HasPreviewSink(), p.Tasks())
	}
}

func TestWithParallelism(t *testing.T) {
	p := testProgram(t)
	q, err := p.WithParallelism(map[int]int{2: 4})
	if err != nil {
		t.Fatal(err)
	}
	if q.Node(2).Parallelism != 4 || p.Node(2).Parallelism != 2 {
		t.Errorf("override not applied to the copy only: %d, %d", q.Node(2).Parallelism, p.Node(2).Parallelism)
	}
	if q.Edges[0].Type != Shuffle || p.Edges[0].Type != Forward {
		t.Errorf("forward edge between parallelism 2 and 4 stayed %v", q.Edges[0].Type)
	}
	for _, bad := range []map[int]int{{9: 1}, {1: 0}, {2: -3}} {
		if _, err := p.WithParallelism(bad); err == nil {
			t.Errorf("WithParallelism(%v) succeeded", bad)
		}
	}
}

func TestNewProgramRejectsBadGraphs(t *testing.T) {
	s, f, k := src("s"), op("f", KindTransform, "filter"), op("k", KindSink, "sink")
	cases := map[string]struct {
		nodes []*Node
		edges []Edge
	}{
		"empty":            {},
		"duplicate node":   {nodes: []*Node{{ID: 1, Parallelism: 1, Chain: []OperatorSpec{s}}, {ID: 1, Parallelism: 1, Chain: []OperatorSpec{k}}}},
		"duplicate op":     {nodes: []*Node{{ID: 1, Parallelism: 1, Chain: []OperatorSpec{s, f}}, {ID: 2, Parallelism: 1, Chain: []OperatorSpec{f}}}, edges: []Edge{{Src: 1, Dest: 2}}},
		"zero parallelism": {nodes: []*Node{{ID: 1, Chain: []OperatorSpec{s}}}},
		"source mid-chain": {nodes: []*Node{{ID: 1, Parallelism: 1, Chain: []OperatorSpec{op("x", KindTransform, "x"), s}}}},
		"sink mid-chain":   {nodes: []*Node{{ID: 1, Parallelism: 1, Chain: []OperatorSpec{s, k, f}}}},
		"dangling edge":    {nodes: []*Node{{ID: 1, Parallelism: 1, Chain: []OperatorSpec{s}}}, edges: []Edge{{Src: 1, Dest: 7}}},
		"no input":         {nodes: []*Node{{ID: 1, Parallelism: 1, Chain: []OperatorSpec{s}}, {ID: 2, Parallelism: 1, Chain: []OperatorSpec{k}}}},
		"forward mismatch": {nodes: []*Node{{ID: 1, Parallelism: 1, Chain: []OperatorSpec{s}}, {ID: 2, Parallelism: 2, Chain: []OperatorSpec{k}}}, edges: []Edge{{Src: 1, Dest: 2, Type: Forward}}},
		"edge into source": {nodes: []*Node{{ID: 1, Parallelism: 1, Chain: []OperatorSpec{s}}, {ID: 2, Parallelism: 1, Chain: []OperatorSpec{src("s2")}}}, edges: []Edge{{Src: 1, Dest: 2}}},
		"no constructor":   {nodes: []*Node{{ID: 1, Parallelism: 1, Chain: []OperatorSpec{{ID: "s", Kind: KindSource}}}}},
		"edge out of sink": {nodes: []*Node{{ID: 1, Parallelism: 1, Chain: []OperatorSpec{s, k}}, {ID: 2, Parallelism: 1, Chain: []OperatorSpec{f}}}, edges: []Edge{{Src: 1, Dest: 2}}},
	}
	for name, c := range cases {
		if _, err := NewProgram(c.nodes, c.edges); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestStartRejectsInvalidProgram(t *testing.T) {
	if _, err := NewRunner().Start(context.Background(), &Program{}, RunOptions{}); err == nil {
		t.Error("empty program started")
	}
	if _, err := NewRunner().Start(context.Background(), nil, RunOptions{}); err == nil {
		t.Error("nil program started")
	}
}
