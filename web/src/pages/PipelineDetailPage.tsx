import { lazy, Suspense, useMemo, useState } from "react";
import { useMetrics, usePipeline, usePipelineJobs, useJobErrors } from "../api/hooks";
import { isApiError } from "../api/client";
import type { Job, OperatorMetricGroup, Pipeline } from "../api/types";
import { Link, useRouter, useSearchParam } from "../lib/router";
import { formatDuration, formatInterval, formatRate, formatTime, formatAgo, formatUptime } from "../lib/format";
import { stateDescription, isTerminal } from "../lib/states";
import { samplesOf } from "../lib/metrics";
import { useNow } from "../lib/useNow";
import { ActionButton } from "../components/ActionButton";
import { DeleteButton } from "../components/DeleteButton";
import { ErrorView, InlineError } from "../components/ErrorView";
import { Loading, StateBadge } from "../components/ui";
import { AlertCircle, Copy } from "../components/icons";
import { Overview } from "../components/detail/Overview";
import { ErrorsTab, ERRORS_PAGE } from "../components/detail/ErrorsTab";
import { CheckpointsTab } from "../components/detail/CheckpointsTab";
import { IntervalDialog, RescaleDialog } from "../components/detail/Dialogs";
import { useToasts } from "../components/Toasts";

const SqlEditor = lazy(() => import("../components/SqlEditor").then((m) => ({ default: m.SqlEditor })));

type Tab = "overview" | "errors" | "checkpoints" | "query";
const TABS: { id: Tab; label: string }[] = [
  { id: "overview", label: "Overview" },
  { id: "errors", label: "Errors" },
  { id: "checkpoints", label: "Checkpoints" },
  { id: "query", label: "Query" },
];

function throughput(metrics: OperatorMetricGroup[] | undefined, p: Pipeline): { in: number; out: number } | undefined {
  if (!metrics || metrics.length === 0) return undefined;
  // Sources' output is what enters the pipeline; sinks' input is what leaves it.
  const hasIn = new Set(p.graph.edges.map((e) => e.dest_id));
  const hasOut = new Set(p.graph.edges.map((e) => e.src_id));
  let inRate = 0;
  let outRate = 0;
  for (const g of metrics) {
    const s = samplesOf(g);
    const last = s[s.length - 1];
    if (!last) continue;
    if (!hasIn.has(g.node_id)) inRate += Math.max(last.msgOut, last.msgIn);
    if (!hasOut.has(g.node_id)) outRate += last.msgIn;
  }
  return { in: inRate, out: outRate };
}

function Stats({
  pipeline,
  job,
  metrics,
  onRescale,
  onInterval,
}: {
  pipeline: Pipeline;
  job: Job | undefined;
  metrics: OperatorMetricGroup[] | undefined;
  onRescale: () => void;
  onInterval: () => void;
}) {
  const now = useNow(1000);
  const par = Math.max(0, ...pipeline.graph.nodes.map((n) => n.parallelism));
  const running = job && !isTerminal(job.state) && job.start_time !== null;
  const tp = job?.state === "Running" ? throughput(metrics, pipeline) : undefined;
  return (
    <div className="stats" data-testid="stats">
      <div className="stat">
        <div className="label">State</div>
        <div className="value" style={{ fontSize: 15, paddingTop: 3 }}>
          <StateBadge state={job?.state} />
        </div>
        <div className="sub" title={stateDescription(job?.state)}>
          {stateDescription(job?.state)}
        </div>
      </div>
      <div className="stat">
        <div className="label">{running ? "Uptime" : "Last run"}</div>
        <div className="value" data-testid="stat-uptime">
          {running
            ? formatUptime(now - job!.start_time! / 1000)
            : job?.start_time && job.finish_time
              ? formatDuration((job.finish_time - job.start_time) / 1000)
              : "—"}
        </div>
        <div className="sub">
          {running ? `since ${formatTime(job!.start_time)}` : job?.finish_time ? `ended ${formatAgo(job.finish_time, now)}` : "not started"}
        </div>
      </div>
      <div className="stat">
        <div className="label">
          Throughput
        </div>
        <div className="value">{tp ? formatRate(tp.in) : "—"}</div>
        <div className="sub">{tp ? `entering · ${formatRate(tp.out)} leaving` : "shown while running"}</div>
      </div>
      <div className="stat">
        <div className="label">
          Parallelism
          <button className="link-btn" onClick={onRescale} data-testid="rescale-open">
            Rescale
          </button>
        </div>
        <div className="value">{par}</div>
        <div className="sub">
          {job?.state === "Running" && job.tasks !== null
            ? `${job.tasks} ${job.tasks === 1 ? "task" : "tasks"} running`
            : `${pipeline.graph.nodes.length} ${pipeline.graph.nodes.length === 1 ? "node" : "nodes"}`}
        </div>
      </div>
      <div className="stat">
        <div className="label">
          Checkpoint interval
          <button className="link-btn" onClick={onInterval} data-testid="interval-open">
            Change
          </button>
        </div>
        <div className="value">{formatInterval(pipeline.checkpoint_interval_micros)}</div>
        <div className="sub">{pipeline.preview ? "preview: no checkpoints" : "between checkpoints"}</div>
      </div>
      <div className="stat">
        <div className="label">Created</div>
        <div className="value" style={{ fontSize: 15, paddingTop: 4 }}>
          {formatAgo(pipeline.created_at, now)}
        </div>
        <div className="sub">{formatTime(pipeline.created_at)}</div>
      </div>
    </div>
  );
}

export default function PipelineDetailPage({ id }: { id: string }) {
  const pipeline = usePipeline(id);
  const jobs = usePipelineJobs(id, !(isApiError(pipeline.error) && pipeline.error.notFound));
  const job = jobs.data?.data[0];
  const active = !!job && !isTerminal(job.state);
  const metrics = useMetrics(id, job?.id, active);
  const firstErrors = useJobErrors(id, job?.id, ERRORS_PAGE);
  const [tabParam, setTab] = useSearchParam("tab");
  const tab: Tab = TABS.some((t) => t.id === tabParam) ? (tabParam as Tab) : "overview";
  const [dialog, setDialog] = useState<"rescale" | "interval" | null>(null);
  const { navigate } = useRouter();
  const toasts = useToasts();
  const errorCount = firstErrors.data ? `${firstErrors.data.data.length}${firstErrors.data.hasMore ? "+" : ""}` : null;

  const metricData = useMemo(() => metrics.data?.data, [metrics.data]);

  if (pipeline.isPending) return <Loading what="pipeline" />;
  if (pipeline.isError && !pipeline.data) {
    return (
      <div className="card">
        <ErrorView error={pipeline.error} what="pipeline" onRetry={() => void pipeline.refetch()} notFoundDetail={`No pipeline has the id ${id}. It may have been deleted, or the link may be wrong.`} />
      </div>
    );
  }
  const p = pipeline.data;
  return (
    <>
      <div className="page-header">
        <div className="grow">
          <div className="breadcrumb">
            <Link to="/pipelines">Pipelines</Link> / {p.preview ? "Preview" : p.name}
          </div>
          <div className="title-line">
            <h1 data-testid="pipeline-name">{p.name}</h1>
            <StateBadge state={job?.state} />
            <button
              className="copy-id"
              title="Copy the pipeline id"
              onClick={() => {
                void navigator.clipboard?.writeText(p.id).then(
                  () => toasts.show({ kind: "success", title: "Copied", body: p.id }),
                  () => {},
                );
              }}
            >
              {p.id} <Copy width={11} height={11} style={{ verticalAlign: -1 }} />
            </button>
          </div>
        </div>
        <div className="actions">
          <ActionButton pipeline={p} state={job?.state} jobId={job?.id} />
          <DeleteButton pipeline={p} state={job?.state} onDeleted={() => navigate("/pipelines")} />
        </div>
      </div>

      {pipeline.isError && (
        <div style={{ marginBottom: 12 }}>
          <InlineError error={pipeline.error} prefix="Couldn't refresh:" />
        </div>
      )}
      {jobs.isError && !jobs.data && (
        <div style={{ marginBottom: 12 }}>
          <InlineError error={jobs.error} prefix="Couldn't load the job:" />
        </div>
      )}
      {job?.failure_reason && (
        <div className="alert error" style={{ marginBottom: 14 }} data-testid="failure-reason">
          <AlertCircle />
          <div className="body">
            <strong>
              The job {job.state === "Failed" ? "failed" : "hit an error"} ({job.failure_reason.domain} error)
            </strong>
            <pre>{job.failure_reason.error}</pre>
          </div>
          {job.state === "Failed" && (
            <button className="btn sm" onClick={() => setTab("errors")}>
              See errors
            </button>
          )}
        </div>
      )}

      <Stats
        pipeline={p}
        job={job}
        metrics={metricData}
        onRescale={() => setDialog("rescale")}
        onInterval={() => setDialog("interval")}
      />

      <div className="tabs" role="tablist">
        {TABS.map((t) => (
          <button
            key={t.id}
            role="tab"
            aria-selected={tab === t.id}
            className={`tab${tab === t.id ? " active" : ""}`}
            onClick={() => setTab(t.id === "overview" ? null : t.id)}
            data-testid={`tab-${t.id}`}
          >
            {t.label}
            {t.id === "errors" && errorCount && errorCount !== "0" && <span className="count alert-count">{errorCount}</span>}
          </button>
        ))}
      </div>

      {tab === "overview" && <Overview pipeline={p} job={job} metrics={metricData} metricsError={metrics.isError && !metrics.data ? metrics.error : null} />}
      {tab === "errors" && <ErrorsTab pipelineId={p.id} jobId={job?.id} />}
      {tab === "checkpoints" && (
        <CheckpointsTab
          pipelineId={p.id}
          jobId={job?.id}
          intervalMicros={p.checkpoint_interval_micros}
          onChangeInterval={() => setDialog("interval")}
        />
      )}
      {tab === "query" && (
        <div className="card" data-testid="query-view">
          <div className="card-header">
            <h2 className="grow">Query</h2>
            <span className="small muted">Read-only · a pipeline's query cannot change; create a new pipeline to change it</span>
            <button
              className="btn sm"
              onClick={() => {
                void navigator.clipboard?.writeText(p.query).then(
                  () => toasts.show({ kind: "success", title: "Query copied" }),
                  () => {},
                );
              }}
            >
              <Copy className="icon" /> Copy
            </button>
          </div>
          <Suspense fallback={<Loading what="query" />}>
            <SqlEditor value={p.query} readOnly />
          </Suspense>
        </div>
      )}

      {dialog === "rescale" && <RescaleDialog pipeline={p} jobId={job?.id} onClose={() => setDialog(null)} />}
      {dialog === "interval" && <IntervalDialog pipeline={p} jobId={job?.id} onClose={() => setDialog(null)} />}
    </>
  );
}
