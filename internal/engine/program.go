package engine

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
)

// EdgeType says how batches move from the subtasks of one node to those of
// the next.
type EdgeType int

// Edge types.
const (
	// Forward sends subtask i's output to subtask i of the next node; it
	// needs equal parallelism on both sides.
	Forward EdgeType = iota
	// Shuffle spreads each upstream subtask's output over every downstream
	// subtask (round-robin for unkeyed data).
	Shuffle
)

// String is the wire spelling used in GraphView (Arroyo's EdgeType names).
func (t EdgeType) String() string {
	if t == Forward {
		return "Forward"
	}
	return "Shuffle"
}

// OperatorKind is the role of an operator in a chain.
type OperatorKind int

// Operator kinds.
const (
	KindSource OperatorKind = iota
	KindTransform
	KindSink
)

// OperatorSpec describes one operator of a node's chain and builds a fresh
// instance of it for every subtask of every run, so a Program can be run
// many times and with any parallelism.
type OperatorSpec struct {
	// ID is unique in the program, e.g. "source_impulse_0".
	ID   string
	Kind OperatorKind
	// Name is a short label for the graph ("impulse", "filter", "preview").
	Name string
	// Description says what the operator does, e.g. "WHERE counter % 3 = 0".
	Description string
	// Schema is the operator's output schema; for a sink, its input schema.
	Schema *arrow.Schema
	// Preview marks the preview sink, whose output goes to RunOptions.Output.
	Preview bool
	// NewSource builds a source instance (KindSource only).
	NewSource func(TaskInfo) (Source, error)
	// NewOperator builds a transform or sink instance.
	NewOperator func(TaskInfo) (Operator, error)
}

// Node is one vertex of the physical graph: a chain of operators fused into
// one task per subtask.
type Node struct {
	ID          int
	Parallelism int
	// Single pins the node to one subtask: its operators need every row in
	// one place (an aggregate without GROUP BY keys), so no parallelism
	// override may spread it.
	Single bool
	Chain  []OperatorSpec
}

// OperatorID identifies the node: the id of the chain's first operator.
func (n *Node) OperatorID() string { return n.Chain[0].ID }

// IsSource reports whether the chain starts with a source.
func (n *Node) IsSource() bool { return n.Chain[0].Kind == KindSource }

// Operator is the human string of the chain, e.g. "impulse -> filter -> project".
func (n *Node) Operator() string {
	names := make([]string, len(n.Chain))
	for i, op := range n.Chain {
		names[i] = op.Name
	}
	return strings.Join(names, " -> ")
}

// Description joins the operators' descriptions.
func (n *Node) Description() string {
	ds := make([]string, len(n.Chain))
	for i, op := range n.Chain {
		ds[i] = op.Description
	}
	return strings.Join(ds, " -> ")
}

// Edge connects two nodes.
type Edge struct {
	Src, Dest int // node ids
	Type      EdgeType
	// Schema of the batches on the edge.
	Schema *arrow.Schema
	// Key, on a Shuffle edge, lists the columns whose values pick the
	// receiving subtask (hash partitioning), so that all rows of one key
	// meet in one subtask. Empty means round-robin.
	Key []int
}

// Program is a planned physical dataflow ready to run. It is built by
// internal/sql and run by a Runner. A Program is immutable once built:
// methods that change it return a copy.
type Program struct {
	Nodes []*Node // sorted by ID
	Edges []Edge
}

// NewProgram checks a graph and returns it as a Program.
func NewProgram(nodes []*Node, edges []Edge) (*Program, error) {
	p := &Program{Nodes: slices.Clone(nodes), Edges: slices.Clone(edges)}
	slices.SortFunc(p.Nodes, func(a, b *Node) int { return a.ID - b.ID })
	if err := p.validate(); err != nil {
		return nil, err
	}
	return p, nil
}

func (p *Program) validate() error {
	if len(p.Nodes) == 0 {
		return fmt.Errorf("program has no nodes")
	}
	ids := map[int]*Node{}
	opIDs := map[string]bool{}
	for _, n := range p.Nodes {
		if _, dup := ids[n.ID]; dup {
			return fmt.Errorf("duplicate node id %d", n.ID)
		}
		ids[n.ID] = n
		if len(n.Chain) == 0 {
			return fmt.Errorf("node %d has an empty chain", n.ID)
		}
		if n.Parallelism < 1 {
			return fmt.Errorf("node %d: parallelism must be at least 1, got %d", n.ID, n.Parallelism)
		}
		for i, op := range n.Chain {
			if opIDs[op.ID] {
				return fmt.Errorf("duplicate operator id %q", op.ID)
			}
			opIDs[op.ID] = true
			switch {
			case op.Kind == KindSource && (i != 0 || op.NewSource == nil):
				return fmt.Errorf("operator %s: a source must head its chain and have a constructor", op.ID)
			case op.Kind != KindSource && op.NewOperator == nil:
				return fmt.Errorf("operator %s has no constructor", op.ID)
			case op.Kind == KindSink && i != len(n.Chain)-1:
				return fmt.Errorf("operator %s: a sink must end its chain", op.ID)
			}
		}
	}
	in := map[int]int{}
	for _, e := range p.Edges {
		src, ok1 := ids[e.Src]
		dst, ok2 := ids[e.Dest]
		if !ok1 || !ok2 {
			return fmt.Errorf("edge %d -> %d refers to an unknown node", e.Src, e.Dest)
		}
		if len(e.Key) > 0 && e.Type != Shuffle {
			return fmt.Errorf("edge %d -> %d has a key but is not a shuffle", e.Src, e.Dest)
		}
		for _, k := range e.Key {
			if e.Schema == nil || k < 0 || k >= e.Schema.NumFields() {
				return fmt.Errorf("edge %d -> %d: key column %d is not in its schema", e.Src, e.Dest, k)
			}
		}
		if e.Type == Forward && src.Parallelism != dst.Parallelism {
			return fmt.Errorf("forward edge %d -> %d joins parallelism %d and %d", e.Src, e.Dest, src.Parallelism, dst.Parallelism)
		}
		if dst.IsSource() {
			return fmt.Errorf("edge %d -> %d enters a source", e.Src, e.Dest)
		}
		if src.Chain[len(src.Chain)-1].Kind == KindSink {
			return fmt.Errorf("edge %d -> %d leaves a sink", e.Src, e.Dest)
		}
		in[e.Dest]++
	}
	for _, n := range p.Nodes {
		if !n.IsSource() && in[n.ID] == 0 {
			return fmt.Errorf("node %d (%s) has no input", n.ID, n.Operator())
		}
	}
	return nil
}

// Node returns the node with the given id, or nil.
func (p *Program) Node(id int) *Node {
	for _, n := range p.Nodes {
		if n.ID == id {
			return n
		}
	}
	return nil
}

// View is the graph as the API shows it.
func (p *Program) View() GraphView {
	v := GraphView{Nodes: make([]NodeView, 0, len(p.Nodes)), Edges: make([]EdgeView, 0, len(p.Edges))}
	for _, n := range p.Nodes {
		v.Nodes = append(v.Nodes, NodeView{
			NodeID:      n.ID,
			Operator:    n.Operator(),
			Description: n.Description(),
			Parallelism: n.Parallelism,
		})
	}
	for _, e := range p.Edges {
		keyType := "()"
		if len(e.Key) > 0 && e.Schema != nil {
			names := make([]string, len(e.Key))
			for i, k := range e.Key {
				if k >= 0 && k < e.Schema.NumFields() {
					names[i] = e.Schema.Field(k).Name
				}
			}
			keyType = "(" + strings.Join(names, ", ") + ")"
		}
		v.Edges = append(v.Edges, EdgeView{
			SrcID:     e.Src,
			DestID:    e.Dest,
			KeyType:   keyType,
			ValueType: schemaString(e.Schema),
			EdgeType:  e.Type.String(),
		})
	}
	return v
}

func schemaString(s *arrow.Schema) string {
	if s == nil {
		return "()"
	}
	parts := make([]string, 0, s.NumFields())
	for _, f := range s.Fields() {
		parts = append(parts, f.Name+": "+f.Type.String())
	}
	return "(" + strings.Join(parts, ", ") + ")"
}

// WithParallelism returns a copy with node parallelism replaced (node id →
// n). Forward edges whose ends no longer match become shuffles.
func (p *Program) WithParallelism(overrides map[int]int) (*Program, error) {
	for _, id := range slices.Sorted(maps.Keys(overrides)) {
		if p.Node(id) == nil {
			return nil, fmt.Errorf("unknown node id %d", id)
		}
		if n := overrides[id]; n < 1 {
			return nil, fmt.Errorf("node %d: parallelism must be at least 1, got %d", id, n)
		}
	}
	q := &Program{Nodes: make([]*Node, len(p.Nodes)), Edges: slices.Clone(p.Edges)}
	par := map[int]int{}
	for i, n := range p.Nodes {
		c := *n
		if v, ok := overrides[n.ID]; ok && !n.Single {
			c.Parallelism = v
		}
		par[c.ID] = c.Parallelism
		q.Nodes[i] = &c
	}
	for i, e := range q.Edges {
		if e.Type == Forward && par[e.Src] != par[e.Dest] {
			q.Edges[i].Type = Shuffle
		}
	}
	if err := q.validate(); err != nil {
		return nil, err
	}
	return q, nil
}

// HasPreviewSink reports whether some node ends in a preview sink.
func (p *Program) HasPreviewSink() bool {
	for _, n := range p.Nodes {
		for _, op := range n.Chain {
			if op.Kind == KindSink && op.Preview {
				return true
			}
		}
	}
	return false
}

// Tasks is the total number of subtasks.
func (p *Program) Tasks() int {
	t := 0
	for _, n := range p.Nodes {
		t += n.Parallelism
	}
	return t
}

// Fingerprint is a digest of the program: nodes with their operators,
// kinds, descriptions (which spell out expressions and predicates) and
// parallelism, and edges with their type, key and schema. Two plans of one query agree on it, so a worker that planned the
// query itself can check it runs what the controller scheduled.
func (p *Program) Fingerprint() string {
	h := sha256.New()
	for _, n := range p.Nodes {
		fmt.Fprintf(h, "n%d/%d/%t", n.ID, n.Parallelism, n.Single)
		for _, op := range n.Chain {
			fmt.Fprintf(h, "[%s %d %s %q]", op.ID, op.Kind, op.Name, op.Description)
		}
	}
	for _, e := range p.Edges {
		fmt.Fprintf(h, "e%d>%d/%d/%v/%s", e.Src, e.Dest, e.Type, e.Key, schemaString(e.Schema))
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}
