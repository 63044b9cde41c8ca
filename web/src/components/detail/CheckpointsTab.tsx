import { useState } from "react";
import { useCheckpointDetails, useCheckpoints } from "../../api/hooks";
import type { Checkpoint, OperatorCheckpointGroup } from "../../api/types";
import { formatBytes, formatInterval, formatMicros, formatTime } from "../../lib/format";
import { SpanTimeline, type TimelineRow } from "../SpanTimeline";
import { EmptyState, Loading, Spinner } from "../ui";
import { ErrorView } from "../ErrorView";
import { Clock } from "../icons";

function durationOf(c: Checkpoint): string {
  if (c.finish_time === null) return "in progress";
  return formatMicros(c.finish_time - c.start_time);
}

function EpochBytes({ pipelineId, jobId, c }: { pipelineId: string; jobId: string; c: Checkpoint }) {
  const q = useCheckpointDetails(pipelineId, jobId, c.epoch, c.finish_time !== null);
  if (q.isPending) return <span className="muted">…</span>;
  if (q.isError) return <span className="muted" title={q.error.message}>—</span>;
  return <>{formatBytes(q.data.data.reduce((a, g) => a + g.bytes, 0))}</>;
}

/** Rows for the per-operator timeline: each operator, then its subtasks. */
export function operatorRows(groups: OperatorCheckpointGroup[]): TimelineRow[] {
  const rows: TimelineRow[] = [];
  for (const g of groups) {
    rows.push({
      key: g.operator_id,
      label: g.operator_id,
      group: true,
      bytes: g.bytes,
      spans: g.subtasks.flatMap((s) => s.event_spans),
    });
    for (const s of g.subtasks) {
      rows.push({ key: `${g.operator_id}/${s.index}`, label: `subtask ${s.index}`, sub: true, bytes: s.bytes, spans: s.event_spans });
    }
  }
  return rows;
}

function spanRange(c: Checkpoint, groups: OperatorCheckpointGroup[]): [number, number] {
  let end = c.finish_time ?? 0;
  for (const e of c.events) end = Math.max(end, e.finish_time || 0);
  for (const g of groups) for (const s of g.subtasks) for (const e of s.event_spans) end = Math.max(end, e.finish_time || 0);
  if (!end || end <= c.start_time) end = Date.now() * 1000;
  return [c.start_time, end];
}

function EpochDetail({ pipelineId, jobId, c }: { pipelineId: string; jobId: string; c: Checkpoint }) {
  const details = useCheckpointDetails(pipelineId, jobId, c.epoch, c.finish_time !== null);
  const groups = details.data?.data ?? [];
  const [start, end] = spanRange(c, groups);
  const jobRows: TimelineRow[] = c.events.map((e, i) => ({ key: `${e.event}-${i}`, label: e.event, spans: [e] }));
  const totalBytes = groups.reduce((a, g) => a + g.bytes, 0);
  return (
    <div className="card" data-testid="epoch-detail">
      <div className="card-header">
        <h2 className="grow">Epoch {c.epoch}</h2>
        <span className="small muted">
          {c.checkpoint_type === "stopping" ? "Final checkpoint before stopping" : "Scheduled"} · {c.backend} backend
        </span>
      </div>
      <div className="card-body">
        <dl className="kv" style={{ marginBottom: 18 }}>
          <dt>Started</dt>
          <dd>{formatTime(c.start_time)}</dd>
          <dt>Duration</dt>
          <dd>{durationOf(c)}</dd>
          <dt>Size</dt>
          <dd>{details.isSuccess ? formatBytes(totalBytes) : "…"}</dd>
        </dl>
        {jobRows.length > 0 && (
          <>
            <h3 style={{ marginBottom: 8 }}>Phases</h3>
            <SpanTimeline rows={jobRows} start={start} end={end} labelHeading="Phase" />
          </>
        )}
        <h3 style={{ margin: "20px 0 8px" }}>Operators and subtasks</h3>
        {details.isPending ? (
          <span className="muted">
            <Spinner /> Loading…
          </span>
        ) : details.isError ? (
          <ErrorView error={details.error} what="checkpoint details" compact onRetry={() => void details.refetch()} />
        ) : groups.length === 0 ? (
          <p className="muted">No operator has reported for this checkpoint yet.</p>
        ) : (
          <SpanTimeline rows={operatorRows(groups)} start={start} end={end} showBytes labelHeading="Operator / subtask" />
        )}
      </div>
    </div>
  );
}

export function CheckpointsTab({
  pipelineId,
  jobId,
  intervalMicros,
  onChangeInterval,
}: {
  pipelineId: string;
  jobId: string | undefined;
  intervalMicros: number;
  onChangeInterval: () => void;
}) {
  const cps = useCheckpoints(pipelineId, jobId);
  const [chosen, setChosen] = useState<number | null>(null);
  if (!jobId || cps.isPending) return <Loading what="checkpoints" />;
  if (cps.isError && !cps.data) return <ErrorView error={cps.error} what="checkpoints" onRetry={() => void cps.refetch()} />;
  const list = [...cps.data.data].sort((a, b) => b.epoch - a.epoch);
  if (list.length === 0) {
    return (
      <div className="card" data-testid="checkpoints-empty">
        <EmptyState
          icon={<Clock />}
          title="No checkpoints yet"
          actions={
            <button className="btn" onClick={onChangeInterval}>
              Change interval ({formatInterval(intervalMicros)})
            </button>
          }
        >
          This job has not recorded a checkpoint. Once it does, each epoch is listed here with its duration and size;
          choose one to see how long every operator and subtask spent in alignment, sync, async and committing, and how
          many bytes each wrote.
        </EmptyState>
      </div>
    );
  }
  const selected = list.find((c) => c.epoch === chosen) ?? list.find((c) => c.finish_time !== null) ?? list[0];
  return (
    <div className="split" style={{ gridTemplateColumns: "minmax(0, 0.9fr) minmax(0, 1.4fr)", alignItems: "start" }}>
      <div className="card" data-testid="checkpoints-list">
        <div className="card-header">
          <h2 className="grow">Checkpoints</h2>
          <span className="small muted">every {formatInterval(intervalMicros)}</span>
        </div>
        <div className="table-wrap" style={{ maxHeight: 520 }}>
          <table className="table">
            <thead>
              <tr>
                <th>Epoch</th>
                <th>Started</th>
                <th className="right">Duration</th>
                <th className="right">Size</th>
              </tr>
            </thead>
            <tbody>
              {list.map((c) => (
                <tr
                  key={c.epoch}
                  className={`clickable${c.epoch === selected.epoch ? " selected" : ""}`}
                  onClick={() => setChosen(c.epoch)}
                >
                  <td className="num">
                    {c.epoch}
                    {c.checkpoint_type === "stopping" && (
                      <span className="tag" style={{ marginLeft: 6 }}>
                        final
                      </span>
                    )}
                  </td>
                  <td className="nowrap">{formatTime(c.start_time)}</td>
                  <td className="right num nowrap">{durationOf(c)}</td>
                  <td className="right num nowrap">
                    <EpochBytes pipelineId={pipelineId} jobId={jobId} c={c} />
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      </div>
      <EpochDetail key={selected.epoch} pipelineId={pipelineId} jobId={jobId} c={selected} />
    </div>
  );
}
