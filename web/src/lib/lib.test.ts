import { describe, expect, it } from "vitest";
import { EditorState } from "@codemirror/state";
import { formatAgo, formatByteRate, formatBytes, formatDuration, formatInterval, formatRate, formatUptime } from "./format";
import { mergeHistory, samplesOf, backpressureColor } from "./metrics";
import { chainSteps, layoutGraph } from "./layout";
import { match } from "./router";
import { toDiagnostics } from "../components/SqlEditor";
import type { OperatorMetricGroup } from "../api/types";

describe("format", () => {
  it("gives every number a unit", () => {
    expect(formatBytes(0)).toBe("0 B");
    expect(formatBytes(1536)).toBe("1.5 KiB");
    expect(formatBytes(25 * 1024 * 1024)).toBe("25 MiB");
    expect(formatByteRate(2400)).toBe("2.3 KiB/s");
    expect(formatRate(48.4)).toBe("48 msg/s");
    expect(formatRate(1234)).toBe("1.2k msg/s");
    expect(formatRate(2_500_000)).toBe("2.5M msg/s");
    expect(formatDuration(850)).toBe("850 ms");
    expect(formatDuration(4200)).toBe("4.2 s");
    expect(formatDuration(200_000)).toBe("3 min 20 s");
    expect(formatDuration(7_500_000)).toBe("2 h 5 min");
    expect(formatDuration(3 * 86_400_000 + 4 * 3_600_000)).toBe("3 d 4 h");
    expect(formatUptime(9_900)).toBe("9 s");
    expect(formatInterval(10_000_000)).toBe("10 s");
    expect(formatInterval(60_000_000)).toBe("1 min");
    expect(formatAgo((Date.now() - 500) * 1000)).toBe("just now");
    expect(formatAgo((Date.now() - 42_300) * 1000)).toBe("42 s ago");
  });
});

describe("metrics", () => {
  const group: OperatorMetricGroup = {
    node_id: 3,
    metric_groups: [
      { name: "messages_recv", subtasks: [0, 1].map((index) => ({ index, metrics: [{ time: 1_000_000, value: 10 }, { time: 2_000_000, value: 20 }] })) },
      { name: "backpressure", subtasks: [{ index: 0, metrics: [{ time: 2_000_000, value: 0.2 }] }, { index: 1, metrics: [{ time: 2_000_000, value: 0.9 }] }] },
      { name: "tx_queue_size", subtasks: [{ index: 0, metrics: [{ time: 2_000_000, value: 99 }] }] },
    ],
  };
  it("sums rates over subtasks and takes the worst backpressure", () => {
    expect(samplesOf(group)).toEqual([
      { t: 1000, msgIn: 20, msgOut: 0, bytesIn: 0, bytesOut: 0, backpressure: 0 },
      { t: 2000, msgIn: 40, msgOut: 0, bytesIn: 0, bytesOut: 0, backpressure: 0.9 },
    ]);
  });
  it("accumulates samples beyond the server's window and drops old ones", () => {
    const later: OperatorMetricGroup = {
      node_id: 3,
      metric_groups: [{ name: "messages_recv", subtasks: [{ index: 0, metrics: [{ time: 3_000_000, value: 5 }] }] }],
    };
    const h = mergeHistory(mergeHistory({}, [group]), [later]);
    expect(h[3].map((s) => s.t)).toEqual([1000, 2000, 3000]);
    expect(mergeHistory(h, [later], 1500)[3].map((s) => s.t)).toEqual([2000, 3000]);
  });
  it("colours backpressure green, amber, red", () => {
    expect(backpressureColor(0.1)).toMatch(/green/);
    expect(backpressureColor(0.4)).toMatch(/amber/);
    expect(backpressureColor(0.8)).toMatch(/red/);
  });
});

describe("layout", () => {
  it("puts each node one column after its furthest input", () => {
    const g = {
      nodes: [1, 2, 3, 4].map((node_id) => ({ node_id, operator: "", description: "", parallelism: 1 })),
      edges: [
        { src_id: 1, dest_id: 3, key_type: "", value_type: "", edge_type: "forward" },
        { src_id: 2, dest_id: 3, key_type: "", value_type: "", edge_type: "shuffle" },
        { src_id: 3, dest_id: 4, key_type: "", value_type: "", edge_type: "forward" },
        { src_id: 1, dest_id: 4, key_type: "", value_type: "", edge_type: "forward" },
      ],
    };
    const pos = Object.fromEntries(layoutGraph(g, 100, 50).map((p) => [p.id, [p.x, p.y]]));
    expect(pos[1][0]).toBe(0);
    expect(pos[2][0]).toBe(0);
    expect(pos[3][0]).toBe(100);
    expect(pos[4][0]).toBe(200);
    expect(pos[1][1]).not.toBe(pos[2][1]);
  });
  it("splits operator chains", () => {
    expect(chainSteps("impulse source -> filter -> preview sink")).toEqual(["impulse source", "filter", "preview sink"]);
  });
});

describe("router", () => {
  it("matches patterns and decodes params", () => {
    expect(match("/pipelines/:id", "/pipelines/pl_1")).toEqual({ id: "pl_1" });
    expect(match("/pipelines/:id", "/pipelines/pl%201/")).toEqual({ id: "pl 1" });
    expect(match("/pipelines/:id", "/pipelines")).toBeNull();
  });
});

describe("toDiagnostics", () => {
  const state = EditorState.create({ doc: "CREATE TABLE t;\nSELECT countr FROM t;" });
  it("maps 1-based line/column spans to editor offsets", () => {
    const [d] = toDiagnostics(state, [{ message: "unknown column", span: { start: { line: 2, column: 8 }, end: { line: 2, column: 14 } } }]);
    expect(state.doc.sliceString(d.from, d.to)).toBe("countr");
    expect(d).toMatchObject({ severity: "error", message: "unknown column" });
  });
  it("marks at least one character, clamps out-of-range spans and handles missing spans", () => {
    const [a, b, c] = toDiagnostics(state, [
      { message: "here", span: { start: { line: 1, column: 1 }, end: { line: 1, column: 1 } } },
      { message: "far", span: { start: { line: 9, column: 99 }, end: { line: 9, column: 120 } } },
      { message: "somewhere" },
    ]);
    expect(state.doc.sliceString(a.from, a.to)).toBe("C");
    expect(b.to).toBeLessThanOrEqual(state.doc.length);
    expect(b.to - b.from).toBeGreaterThanOrEqual(1);
    expect(c.from).toBe(0);
  });
});
