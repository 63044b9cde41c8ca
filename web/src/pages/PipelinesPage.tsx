import { useState } from "react";
import { jobOf, useJobs, usePipelines } from "../api/hooks";
import type { Job, Pipeline } from "../api/types";
import { Link, useRouter } from "../lib/router";
import { formatAgo, formatDuration, formatInterval, formatTime, formatUptime } from "../lib/format";
import { useNow } from "../lib/useNow";
import { ActionButton } from "../components/ActionButton";
import { DeleteButton } from "../components/DeleteButton";
import { EmptyState, Loading, StateBadge } from "../components/ui";
import { ErrorView, InlineError } from "../components/ErrorView";
import { Layers, Plus } from "../components/icons";
import { isTerminal } from "../lib/states";

const PAGE = 25;

export function uptimeOf(job: Job | undefined, now: number): { text: string; title: string } {
  if (!job || job.start_time === null) return { text: "—", title: "Not started" };
  const start = job.start_time / 1000;
  if (isTerminal(job.state)) {
    if (job.finish_time === null) return { text: "—", title: "Not running" };
    return {
      text: "—",
      title: `Ran for ${formatDuration(job.finish_time / 1000 - start)}, until ${formatTime(job.finish_time)}`,
    };
  }
  return { text: formatUptime(Math.max(0, now - start)), title: `Running since ${formatTime(job.start_time)}` };
}

function parallelismOf(p: Pipeline): number {
  return Math.max(0, ...p.graph.nodes.map((n) => n.parallelism));
}

export function PipelinesPage() {
  const [cursors, setCursors] = useState<string[]>([]);
  const cursor = cursors[cursors.length - 1];
  const pipelines = usePipelines(PAGE, cursor);
  const jobs = useJobs();
  const now = useNow(1000);
  const { navigate } = useRouter();

  const header = (
    <div className="page-header">
      <div className="grow">
        <h1>Pipelines</h1>
      </div>
      <div className="actions">
        <Link className="btn primary" to="/pipelines/new" data-testid="new-pipeline">
          <Plus className="icon" />
          New pipeline
        </Link>
      </div>
    </div>
  );

  if (pipelines.isPending) {
    return (
      <>
        {header}
        <div className="card">
          <Loading what="pipelines" />
        </div>
      </>
    );
  }
  if (pipelines.isError && !pipelines.data) {
    return (
      <>
        {header}
        <div className="card">
          <ErrorView error={pipelines.error} what="pipelines" onRetry={() => void pipelines.refetch()} />
        </div>
      </>
    );
  }
  const list = pipelines.data?.data ?? [];
  if (list.length === 0 && cursors.length === 0) {
    return (
      <>
        {header}
        <div className="card" data-testid="pipelines-empty">
          <EmptyState
            icon={<Layers />}
            title="No pipelines yet"
            actions={
              <Link className="btn primary" to="/pipelines/new">
                <Plus className="icon" />
                Write your first pipeline
              </Link>
            }
          >
            A pipeline runs a streaming SQL query continuously. Write one, preview its output live, then launch it.
          </EmptyState>
        </div>
      </>
    );
  }

  return (
    <>
      {header}
      {pipelines.isError && (
        <div style={{ marginBottom: 12 }}>
          <InlineError error={pipelines.error} prefix="Couldn't refresh the list:" />
        </div>
      )}
      {jobs.isError && !jobs.data && (
        <div style={{ marginBottom: 12 }}>
          <InlineError error={jobs.error} prefix="Couldn't load job states:" />
        </div>
      )}
      <div className="card">
        <div className="table-wrap">
          <table className="table" data-testid="pipelines-table">
            <thead>
              <tr>
                <th style={{ width: "30%" }}>Name</th>
                <th>State</th>
                <th>Created</th>
                <th>Uptime</th>
                <th className="right">Parallelism</th>
                <th className="right">Checkpoint every</th>
                <th className="right">Actions</th>
              </tr>
            </thead>
            <tbody>
              {list.map((p) => {
                const job = jobOf(jobs.data?.data, p.id);
                const up = uptimeOf(job, now);
                return (
                  <tr key={p.id} data-testid={`pipeline-row-${p.name}`} data-pipeline-id={p.id}>
                    <td className="cell-name">
                      <Link to={`/pipelines/${p.id}`}>{p.name}</Link>
                      <span className="sub">{p.id}</span>
                    </td>
                    <td>
                      {job ? <StateBadge state={job.state} /> : jobs.isPending ? <span className="muted">…</span> : <span className="muted">—</span>}
                      {job?.failure_reason && (
                        <div className="small" style={{ color: "var(--red-700)", maxWidth: 260, marginTop: 3 }} title={job.failure_reason.error}>
                          {job.failure_reason.error.length > 60 ? job.failure_reason.error.slice(0, 60) + "…" : job.failure_reason.error}
                        </div>
                      )}
                    </td>
                    <td className="nowrap" title={formatTime(p.created_at)}>
                      {formatAgo(p.created_at, now)}
                    </td>
                    <td className="nowrap num" title={up.title} data-testid="uptime">
                      {up.text}
                    </td>
                    <td className="right num">{parallelismOf(p)}</td>
                    <td className="right num nowrap">{formatInterval(p.checkpoint_interval_micros)}</td>
                    <td>
                      <div className="row-actions">
                        <ActionButton pipeline={p} state={job?.state} jobId={job?.id} size="sm" />
                        <DeleteButton pipeline={p} state={job?.state} size="sm" />
                      </div>
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
        {(cursors.length > 0 || pipelines.data?.hasMore) && (
          <div className="pager">
            <span>Page {cursors.length + 1}</span>
            <div className="buttons">
              <button className="btn sm" disabled={cursors.length === 0} onClick={() => setCursors((c) => c.slice(0, -1))}>
                Newer
              </button>
              <button
                className="btn sm"
                disabled={!pipelines.data?.hasMore}
                onClick={() => setCursors((c) => [...c, list[list.length - 1].id])}
              >
                Older
              </button>
            </div>
          </div>
        )}
      </div>
      <p className="small muted" style={{ marginTop: 10 }}>
        Refreshes every 2 s. Previews are not listed. <button className="link-btn" onClick={() => navigate("/pipelines/new")}>Write a new pipeline</button>.
      </p>
    </>
  );
}
