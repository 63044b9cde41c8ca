import { useEffect, useMemo, useState, useSyncExternalStore } from "react";
import type { Job, OperatorMetricGroup, Pipeline } from "../../api/types";
import { DataflowGraph } from "../DataflowGraph";
import { MetricChart } from "../MetricChart";
import { chainSteps } from "../../lib/layout";
import { latest, mergeHistory, type History, type Sample } from "../../lib/metrics";
import { formatByteRate, formatPercent, formatRate, formatTime, formatClockMs } from "../../lib/format";
import { historyOf, subscribeHistory, type HistoryEvent } from "../../lib/history";
import { stateTone } from "../../lib/states";
import { ErrorView } from "../ErrorView";

/** Accumulates metric samples while the page is open. */
export function useMetricHistory(groups: OperatorMetricGroup[] | undefined, jobKey: string | undefined): History {
  const [hist, setHist] = useState<History>({});
  useEffect(() => setHist({}), [jobKey]);
  useEffect(() => {
    if (groups) setHist((h) => mergeHistory(h, groups));
  }, [groups]);
  return hist;
}

function OperatorCard({ node, samples }: { node: Pipeline["graph"]["nodes"][number]; samples: Sample[] }) {
  const steps = chainSteps(node.operator);
  const msgs = [
    { label: "in", color: "#2563eb", points: samples.map((s) => [s.t, s.msgIn] as [number, number]) },
    { label: "out", color: "#16a34a", points: samples.map((s) => [s.t, s.msgOut] as [number, number]) },
  ];
  const bytes = [
    { label: "in", color: "#2563eb", points: samples.map((s) => [s.t, s.bytesIn] as [number, number]) },
    { label: "out", color: "#16a34a", points: samples.map((s) => [s.t, s.bytesOut] as [number, number]) },
  ];
  const bp = [{ label: "max", color: "#f59e0b", points: samples.map((s) => [s.t, s.backpressure] as [number, number]) }];
  return (
    <div className="card op-card" data-testid="operator-card">
      <div className="card-header">
        <div className="grow">
          <h3>
            Node {node.node_id} · {steps.length > 1 ? `${steps[0]} → ${steps[steps.length - 1]}` : steps[0]}
          </h3>
          <div className="small muted" style={{ overflow: "hidden", textOverflow: "ellipsis", whiteSpace: "nowrap" }} title={node.description}>
            {node.description}
          </div>
        </div>
        <span className="tag">parallelism {node.parallelism}</span>
      </div>
      <div className="card-body charts">
        <MetricChart title="Messages / s" series={msgs} format={(v) => formatRate(v)} />
        <MetricChart title="Bytes / s" series={bytes} format={formatByteRate} />
        <MetricChart title="Backpressure" series={bp} format={formatPercent} fixedMax={1} />
      </div>
    </div>
  );
}

function eventText(e: HistoryEvent): string {
  return e.kind === "state" ? e.state : e.label;
}

export function StateHistory({ job }: { job: Job | undefined }) {
  const events = useSyncExternalStore(
    subscribeHistory,
    () => (job ? historyOf(job.id) : empty),
    () => empty,
  );
  const items = useMemo(() => {
    const known: { what: string; at: number; tone: string; detail?: string }[] = [];
    if (job) {
      known.push({ what: "Job created", at: job.created_at / 1000, tone: "blue" });
      if (job.start_time) known.push({ what: `Started (run ${job.run_id})`, at: job.start_time / 1000, tone: "green" });
      if (job.finish_time) known.push({ what: `Run ${job.run_id} ended`, at: job.finish_time / 1000, tone: "grey" });
    }
    for (const e of events) {
      known.push({
        what: eventText(e),
        at: e.at,
        tone: e.kind === "state" ? stateTone(e.state) : "violet",
        detail: e.kind === "state" ? "observed" : "you asked",
      });
    }
    return known.sort((a, b) => b.at - a.at);
  }, [events, job]);
  return (
    <div className="card" data-testid="state-history">
      <div className="card-header">
        <h2 className="grow">State history</h2>
      </div>
      <ul className="history">
        {items.map((it, i) => (
          <li key={i}>
            <span className="marker" style={{ color: `var(--${it.tone}-500)` }} />
            <div>
              <div className="what">{it.what}</div>
              <div className="when">
                {formatTime(it.at * 1000)}
                {it.detail ? ` · ${it.detail}` : ""}
              </div>
            </div>
          </li>
        ))}
      </ul>
      <div className="small muted" style={{ padding: "0 16px 12px" }}>
        States observed while this tab was open, with the job's recorded start and finish.
      </div>
    </div>
  );
}
const empty: HistoryEvent[] = [];

export function Overview({
  pipeline,
  job,
  metrics,
  metricsError,
}: {
  pipeline: Pipeline;
  job: Job | undefined;
  metrics: OperatorMetricGroup[] | undefined;
  metricsError: unknown;
}) {
  const hist = useMetricHistory(metrics, job ? `${job.id}/${job.run_id}` : undefined);
  const running = job?.state === "Running";
  const latestByNode = useMemo(() => {
    const m: Record<number, Sample | undefined> = {};
    for (const n of pipeline.graph.nodes) m[n.node_id] = running ? latest(hist[n.node_id]) : undefined;
    return m;
  }, [hist, pipeline.graph.nodes, running]);
  const lastT = Math.max(0, ...Object.values(hist).map((s) => latest(s)?.t ?? 0));
  return (
    <>
      <div className="overview-grid">
        <div className="card">
          <div className="card-header">
            <h2 className="grow">Dataflow</h2>
            <span className="small muted">
              {running ? "Node colour: backpressure (green flowing · amber · red)" : "Metrics show while the job runs"}
              {running && lastT > 0 && ` · ${formatClockMs(lastT).slice(0, 8)}`}
            </span>
          </div>
          <DataflowGraph graph={pipeline.graph} metrics={latestByNode} animated={running} className="tall" />
        </div>
        <StateHistory job={job} />
      </div>
      {metricsError != null && <div style={{ marginTop: 16 }}><ErrorView error={metricsError} what="metrics" compact /></div>}
      <div className="op-cards">
        {pipeline.graph.nodes.map((n) => (
          <OperatorCard key={n.node_id} node={n} samples={hist[n.node_id] ?? []} />
        ))}
      </div>
    </>
  );
}
