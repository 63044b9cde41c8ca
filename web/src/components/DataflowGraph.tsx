// The dataflow graph: one card per node (a fused chain of operators), with
// its parallelism and, when metrics are given, its throughput and a
// colour for its backpressure.
import { createContext, memo, useContext, useMemo } from "react";
import { ReactFlow, Handle, Position, type Node, type Edge, type NodeProps } from "@xyflow/react";
import "@xyflow/react/dist/base.css";
import type { GraphNode, PipelineGraph } from "../api/types";
import { chainSteps, layoutGraph } from "../lib/layout";
import { backpressureColor, backpressureLabel, type Sample } from "../lib/metrics";
import { formatPercent, formatRate } from "../lib/format";

export interface NodeMetrics {
  latest?: Sample;
}

type FlowData = {
  node: GraphNode;
};

// Metrics reach the nodes through context, so that a metrics update does
// not hand React Flow new node objects (it would measure them again).
const MetricsContext = createContext<Record<number, Sample | undefined> | undefined>(undefined);

function shortOp(op: string): string {
  const o = op.toLowerCase();
  if (o.endsWith(" source") || o === "source") return "source";
  if (o.endsWith(" sink") || o === "sink") return "sink";
  return op.split(" ")[0];
}

const OperatorNode = memo(function OperatorNode({ data }: NodeProps<Node<FlowData>>) {
  const { node } = data;
  const all = useContext(MetricsContext);
  const showMetrics = all !== undefined;
  const metrics = all?.[node.node_id];
  const ops = chainSteps(node.operator);
  const descs = chainSteps(node.description);
  const paired = ops.length === descs.length;
  const steps = paired ? ops.map((o, i) => ({ op: shortOp(o), desc: descs[i] })) : descs.map((d) => ({ op: "", desc: d }));
  const title = ops.length > 1 ? `${ops[0]} → ${ops[ops.length - 1]}` : ops[0] || `Node ${node.node_id}`;
  const bp = metrics?.backpressure;
  const color = showMetrics ? backpressureColor(bp) : "var(--blue-500)";
  return (
    <div className="flow-node" style={{ borderLeftColor: color }} data-testid={`graph-node-${node.node_id}`}>
      <Handle type="target" position={Position.Left} isConnectable={false} />
      <div className="head">
        <span className="name" title={node.operator}>
          {title}
        </span>
        <span className="tag" title="Parallelism: subtasks running this node">
          ×{node.parallelism}
        </span>
      </div>
      <div className="steps">
        {steps.map((s, i) => (
          <div className="step" key={i}>
            {s.op && <span className="op">{s.op}</span>}
            <span className="desc" title={s.desc}>
              {s.desc}
            </span>
          </div>
        ))}
      </div>
      {showMetrics && (
        <div className="metrics" data-testid="node-metrics">
          <span title="Messages received per second, all subtasks">
            in <b>{metrics ? formatRate(metrics.msgIn) : "—"}</b>
          </span>
          <span title="Messages sent per second, all subtasks">
            out <b>{metrics ? formatRate(metrics.msgOut) : "—"}</b>
          </span>
          <span title={`Backpressure: ${backpressureLabel(bp)}`} style={{ color: bp !== undefined ? color : undefined }}>
            bp <b style={{ color: "inherit" }}>{bp !== undefined ? formatPercent(bp) : "—"}</b>
          </span>
        </div>
      )}
      <Handle type="source" position={Position.Right} isConnectable={false} />
    </div>
  );
});

const nodeTypes = { operator: OperatorNode };

export interface DataflowGraphProps {
  graph: PipelineGraph;
  /** Latest metrics per node id; omit to hide the metrics row. */
  metrics?: Record<number, Sample | undefined>;
  animated?: boolean;
  className?: string;
}

export function DataflowGraph({ graph, metrics, animated, className }: DataflowGraphProps) {
  const placed = useMemo(() => layoutGraph(graph), [graph]);
  const nodes: Node<FlowData>[] = useMemo(
    () =>
      graph.nodes.map((n) => {
        const p = placed.find((x) => x.id === n.node_id)!;
        return {
          id: String(n.node_id),
          type: "operator",
          position: { x: p.x, y: p.y },
          data: { node: n },
          draggable: false,
          selectable: false,
          // Known sizes let React Flow show and fit the nodes before it has
          // measured them.
          initialWidth: 320,
          initialHeight: 60 + 21 * chainSteps(n.description).length,
        };
      }),
    [graph, placed],
  );
  const edges: Edge[] = useMemo(
    () =>
      graph.edges.map((e, i) => ({
        id: `e${i}-${e.src_id}-${e.dest_id}`,
        source: String(e.src_id),
        target: String(e.dest_id),
        label: e.edge_type || undefined,
        animated,
        style: { stroke: "#94a3b8", strokeWidth: 1.5 },
        labelStyle: { fontSize: 11, fill: "#475569" },
      })),
    [graph, animated],
  );
  // React Flow fits the view when it mounts: remount it when the graph's
  // shape changes, not when only its metrics do.
  const shape = useMemo(
    () => graph.nodes.map((n) => n.node_id).join(",") + "|" + graph.edges.map((e) => `${e.src_id}>${e.dest_id}`).join(","),
    [graph],
  );
  return (
    <MetricsContext.Provider value={metrics}>
    <div className={`graph-host ${className ?? ""}`} data-testid="dataflow-graph">
      <ReactFlow
        key={shape}
        nodes={nodes}
        edges={edges}
        nodeTypes={nodeTypes}
        fitView
        fitViewOptions={{ padding: 0.25, maxZoom: 1 }}
        minZoom={0.3}
        maxZoom={1.5}
        nodesDraggable={false}
        nodesConnectable={false}
        elementsSelectable={false}
        zoomOnScroll={false}
        preventScrolling={false}
        proOptions={{ hideAttribution: true }}
      />
    </div>
    </MetricsContext.Provider>
  );
}
