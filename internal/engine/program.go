package engine

// Program is a planned physical dataflow ready to run. It is built by
// internal/sql and run by a Runner.
//
// Contract (the engine owner fills in the fields):
//   - View() GraphView: the graph as the API shows it.
//   - WithParallelism(overrides map[int]int) (*Program, error): a copy with
//     node parallelism replaced (node id → n).
//   - HasPreviewSink() bool.
type Program struct{}
