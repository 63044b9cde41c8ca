// Turns operator_metric_groups into per-node time series: rates summed
// over subtasks, backpressure as the worst subtask's.
import type { OperatorMetricGroup } from "../api/types";

export interface Sample {
  /** Milliseconds since the epoch. */
  t: number;
  msgIn: number;
  msgOut: number;
  bytesIn: number;
  bytesOut: number;
  /** 0..1, the highest over the node's subtasks. */
  backpressure: number;
}

export type History = Record<number, Sample[]>;

const field: Record<string, keyof Omit<Sample, "t"> | undefined> = {
  messages_recv: "msgIn",
  messages_sent: "msgOut",
  bytes_recv: "bytesIn",
  bytes_sent: "bytesOut",
  backpressure: "backpressure",
};

/** One node's samples, oldest first. */
export function samplesOf(g: OperatorMetricGroup): Sample[] {
  const byTime = new Map<number, Sample>();
  for (const mg of g.metric_groups) {
    const f = field[mg.name];
    if (!f) continue;
    for (const st of mg.subtasks) {
      for (const p of st.metrics) {
        const t = Math.round(p.time / 1000);
        let s = byTime.get(t);
        if (!s) {
          s = { t, msgIn: 0, msgOut: 0, bytesIn: 0, bytesOut: 0, backpressure: 0 };
          byTime.set(t, s);
        }
        const v = Number.isFinite(p.value) ? p.value : 0;
        if (f === "backpressure") s.backpressure = Math.max(s.backpressure, v);
        else s[f] += v;
      }
    }
  }
  return [...byTime.values()].sort((a, b) => a.t - b.t);
}

/**
 * Adds the API's current window to what the console has already seen, so
 * that charts cover more than the server's window; keeps windowMs of it.
 */
export function mergeHistory(prev: History, groups: OperatorMetricGroup[], windowMs = 10 * 60 * 1000): History {
  const next: History = {};
  for (const g of groups) {
    const fresh = samplesOf(g);
    const old = prev[g.node_id] ?? [];
    const byT = new Map<number, Sample>();
    for (const s of old) byT.set(s.t, s);
    for (const s of fresh) byT.set(s.t, s);
    const all = [...byT.values()].sort((a, b) => a.t - b.t);
    const last = all.length ? all[all.length - 1].t : 0;
    next[g.node_id] = all.filter((s) => s.t >= last - windowMs);
  }
  return next;
}

export function latest(samples: Sample[] | undefined): Sample | undefined {
  return samples && samples.length ? samples[samples.length - 1] : undefined;
}

/** Colour for a backpressure ratio: green when flowing, amber, then red. */
export function backpressureColor(ratio: number | undefined): string {
  if (ratio === undefined) return "var(--grey-400)";
  if (ratio < 0.25) return "var(--green-500)";
  if (ratio < 0.6) return "var(--amber-500)";
  return "var(--red-500)";
}

export function backpressureLabel(ratio: number | undefined): string {
  if (ratio === undefined) return "no data";
  if (ratio < 0.25) return "flowing";
  if (ratio < 0.6) return "some backpressure";
  return "high backpressure";
}
