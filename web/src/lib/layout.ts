// Left-to-right layered layout of a dataflow graph: a node's column is
// the length of the longest path from a source to it.
import type { PipelineGraph } from "../api/types";

export interface Placed {
  id: number;
  x: number;
  y: number;
}

export function layoutGraph(g: PipelineGraph, colWidth = 340, rowHeight = 190): Placed[] {
  const ids = g.nodes.map((n) => n.node_id);
  const incoming = new Map<number, number[]>(ids.map((id) => [id, []]));
  for (const e of g.edges) incoming.get(e.dest_id)?.push(e.src_id);
  const depth = new Map<number, number>();
  const visiting = new Set<number>();
  const depthOf = (id: number): number => {
    const known = depth.get(id);
    if (known !== undefined) return known;
    if (visiting.has(id)) return 0; // a cycle: should not happen in a dataflow
    visiting.add(id);
    const d = Math.max(-1, ...(incoming.get(id) ?? []).map(depthOf)) + 1;
    visiting.delete(id);
    depth.set(id, d);
    return d;
  };
  const columns = new Map<number, number[]>();
  for (const id of ids) {
    const d = depthOf(id);
    columns.set(d, [...(columns.get(d) ?? []), id]);
  }
  const tallest = Math.max(1, ...[...columns.values()].map((c) => c.length));
  const out: Placed[] = [];
  for (const [d, col] of columns) {
    const offset = ((tallest - col.length) * rowHeight) / 2;
    col.forEach((id, i) => out.push({ id, x: d * colWidth, y: offset + i * rowHeight }));
  }
  return out;
}

/** Splits "a -> b -> c" into its steps. */
export function chainSteps(s: string): string[] {
  return s
    .split(/\s*->\s*/)
    .map((x) => x.trim())
    .filter(Boolean);
}
