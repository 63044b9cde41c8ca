import { useState } from "react";
import { useJobErrors } from "../../api/hooks";
import type { JobLogMessage } from "../../api/types";
import { formatAgo, formatTime } from "../../lib/format";
import { EmptyState, Loading } from "../ui";
import { ErrorView, InlineError } from "../ErrorView";
import { Check, Chevron } from "../icons";
import { useNow } from "../../lib/useNow";

export const ERRORS_PAGE = 20;

function ErrorItem({ m, now }: { m: JobLogMessage; now: number }) {
  const [open, setOpen] = useState(false);
  return (
    <li className={`err-item${open ? " open" : ""}`} data-testid="error-item">
      <button className="err-row" onClick={() => setOpen(!open)} aria-expanded={open}>
        <Chevron className="chev" width={16} height={16} />
        <span className="when">
          {formatTime(m.created_at)}
          <span className="ago">{formatAgo(m.created_at, now)}</span>
        </span>
        <span className="msg">{m.message}</span>
        <span className="where">
          {m.operator_id ? (
            <span className="op" title={m.operator_id}>
              {m.operator_id}
            </span>
          ) : (
            <span className="muted">job</span>
          )}
          <span>
            {m.task_index !== null && <span className="tag">subtask {m.task_index}</span>}{" "}
            {m.error_domain && (
              <span className={`tag`} title="Whose fault: user (the query or data), external (a system the job talks to) or internal (Runnel)">
                {m.error_domain}
              </span>
            )}
          </span>
        </span>
      </button>
      {open && (
        <div className="err-details" data-testid="error-details">
          <div className="meta">
            <span>Level: {m.level}</span>
            <span>Operator: {m.operator_id ?? "—"}</span>
            <span>Subtask: {m.task_index ?? "—"}</span>
            <span>Domain: {m.error_domain ?? "—"}</span>
            <span className="mono">{m.id}</span>
          </div>
          <pre>{m.details || m.message}</pre>
        </div>
      )}
    </li>
  );
}

export function ErrorsTab({ pipelineId, jobId }: { pipelineId: string; jobId: string | undefined }) {
  // A stack of cursors: the id of the last message of each earlier page.
  const [cursors, setCursors] = useState<string[]>([]);
  const cursor = cursors[cursors.length - 1];
  const q = useJobErrors(pipelineId, jobId, ERRORS_PAGE, cursor);
  const now = useNow(5000);
  if (!jobId || q.isPending) return <Loading what="errors" />;
  if (q.isError && !q.data) return <ErrorView error={q.error} what="errors" onRetry={() => void q.refetch()} />;
  const list = q.data.data;
  if (list.length === 0 && cursors.length === 0) {
    return (
      <div className="card" data-testid="errors-empty">
        <EmptyState icon={<Check />} title="No errors">
          This job has not reported any errors. Task failures and operator errors appear here, newest first, with the
          operator and subtask that raised them.
        </EmptyState>
      </div>
    );
  }
  const page = cursors.length + 1;
  return (
    <div className="card" data-testid="errors-list">
      {q.isError && <InlineError error={q.error} prefix="Couldn't refresh:" />}
      <div className="card-header">
        <h2 className="grow">Errors</h2>
        <span className="small muted">Newest first · refreshes every 5 s</span>
      </div>
      <ul className="err-list">
        {list.map((m) => (
          <ErrorItem key={m.id} m={m} now={now} />
        ))}
      </ul>
      <div className="pager">
        <span>
          Page {page} · {list.length} {list.length === 1 ? "error" : "errors"}
        </span>
        <div className="buttons">
          <button className="btn sm" disabled={cursors.length === 0} onClick={() => setCursors((c) => c.slice(0, -1))} data-testid="errors-newer">
            Newer
          </button>
          <button
            className="btn sm"
            disabled={!q.data.hasMore}
            onClick={() => setCursors((c) => [...c, list[list.length - 1].id])}
            data-testid="errors-older"
          >
            Older
          </button>
        </div>
      </div>
    </div>
  );
}
