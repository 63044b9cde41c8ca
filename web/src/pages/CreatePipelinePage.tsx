import { useCallback, useEffect, useRef, useState } from "react";
import type { EditorView } from "@codemirror/view";
import { SqlEditor, jumpTo } from "../components/SqlEditor";
import { DataflowGraph } from "../components/DataflowGraph";
import { OutputTable } from "../components/OutputTable";
import { LaunchDialog } from "../components/LaunchDialog";
import { InlineError } from "../components/ErrorView";
import { Spinner } from "../components/ui";
import { AlertCircle, Check, Play, Rocket, Square } from "../components/icons";
import { useValidation } from "../lib/useValidation";
import { usePreview, type PreviewState } from "../lib/usePreview";
import { useRouter } from "../lib/router";
import { formatUptime } from "../lib/format";
import { useNow } from "../lib/useNow";

const DRAFT_KEY = "runnel.console.draft";

export const EXAMPLES: { label: string; sql: string }[] = [
  {
    label: "Filter a generated stream",
    sql: `CREATE TABLE impulse WITH (connector = 'impulse', event_rate = '20');

SELECT counter, counter % 3 AS bucket
FROM impulse
WHERE counter % 2 = 0;
`,
  },
  {
    label: "Write into a sink",
    sql: `CREATE TABLE impulse WITH (connector = 'impulse', event_rate = '100');
CREATE TABLE sink WITH (connector = 'blackhole');

INSERT INTO sink
SELECT counter * 2 AS doubled FROM impulse;
`,
  },
];

function loadDraft(): string {
  try {
    return localStorage.getItem(DRAFT_KEY) ?? "";
  } catch {
    return "";
  }
}

function PreviewStatus({ s }: { s: PreviewState }) {
  const now = useNow(1000);
  const since = s.startedAt ? formatUptime(now - s.startedAt) : "";
  switch (s.phase) {
    case "idle":
      return <span className="preview-status">Not started</span>;
    case "starting":
      return (
        <span className="preview-status" data-testid="preview-status" data-phase="starting">
          <Spinner /> Creating preview…
        </span>
      );
    case "waiting":
      return (
        <span className="preview-status" data-testid="preview-status" data-phase="waiting">
          <Spinner /> Starting job{s.jobState ? ` (${s.jobState})` : ""}…
        </span>
      );
    case "live":
      return (
        <span className="preview-status" data-testid="preview-status" data-phase="live" style={{ color: "var(--green-700)" }}>
          <span className="live-dot" /> Live · {since}
        </span>
      );
    case "stopping":
      return (
        <span className="preview-status" data-testid="preview-status" data-phase="stopping">
          <Spinner /> Stopping…
        </span>
      );
    case "done":
      return (
        <span className="preview-status" data-testid="preview-status" data-phase="done">
          Finished{s.dropped > 0 ? ` · ${s.dropped} batches dropped (the browser fell behind)` : ""}
        </span>
      );
    case "failed":
      return (
        <span className="preview-status" data-testid="preview-status" data-phase="failed" style={{ color: "var(--red-700)" }}>
          Failed
        </span>
      );
  }
}

export default function CreatePipelinePage() {
  const [sql, setSql] = useState(loadDraft);
  const validation = useValidation(sql);
  const preview = usePreview();
  const [launching, setLaunching] = useState(false);
  const view = useRef<EditorView | null>(null);
  const { navigate } = useRouter();

  useEffect(() => {
    const t = window.setTimeout(() => {
      try {
        localStorage.setItem(DRAFT_KEY, sql);
      } catch {
        /* private mode */
      }
    }, 300);
    return () => window.clearTimeout(t);
  }, [sql]);

  const onReady = useCallback((v: EditorView) => {
    view.current = v;
  }, []);

  const current = validation.text === sql;
  const errors = validation.result?.errors ?? [];
  const graph = validation.status === "valid" && current ? validation.result?.graph : validation.lastGraph;
  const graphStale = !(validation.status === "valid" && current);
  const running = ["starting", "waiting", "live"].includes(preview.state.phase);

  let validity;
  if (validation.status === "empty") validity = <span className="validity checking">Write a query to check it</span>;
  else if (validation.status === "checking" || !current)
    validity = (
      <span className="validity checking" data-testid="validity" data-status="checking">
        <Spinner /> Checking…
      </span>
    );
  else if (validation.status === "valid")
    validity = (
      <span className="validity ok" data-testid="validity" data-status="valid">
        <Check className="icon" width={16} height={16} /> Valid query
      </span>
    );
  else if (validation.status === "invalid")
    validity = (
      <span className="validity bad" data-testid="validity" data-status="invalid">
        <AlertCircle width={16} height={16} /> {errors.length} {errors.length === 1 ? "error" : "errors"}
      </span>
    );
  else
    validity = (
      <span className="validity bad" data-testid="validity" data-status="error">
        <AlertCircle width={16} height={16} /> Couldn't check
      </span>
    );

  return (
    <>
      <div className="page-header">
        <div className="grow">
          <div className="breadcrumb">Pipelines / New</div>
          <h1>New pipeline</h1>
        </div>
        <div className="actions">
          <select
            className="input"
            style={{ width: 210 }}
            value=""
            aria-label="Insert an example query"
            onChange={(e) => {
              const ex = EXAMPLES[Number(e.target.value)];
              if (ex) setSql(ex.sql);
            }}
          >
            <option value="">Examples…</option>
            {EXAMPLES.map((ex, i) => (
              <option key={i} value={i}>
                {ex.label}
              </option>
            ))}
          </select>
          {running ? (
            <button className="btn" onClick={preview.stop} data-testid="stop-preview">
              <Square className="icon" />
              Stop preview
            </button>
          ) : (
            <button
              className="btn"
              onClick={() => void preview.start(sql)}
              disabled={!sql.trim() || preview.state.phase === "stopping"}
              data-testid="preview-button"
              title="Run the query for a short while and show its output here; nothing is written to sinks"
            >
              <Play className="icon" />
              Preview
            </button>
          )}
          <button
            className="btn primary"
            onClick={() => setLaunching(true)}
            disabled={!sql.trim()}
            data-testid="launch-button"
            title="Create the pipeline and start its job"
          >
            <Rocket className="icon" />
            Launch…
          </button>
        </div>
      </div>

      <div className="editor-grid">
        <div className="card editor-card">
          <div className="card-header">
            <h2 className="grow">Query</h2>
            {validity}
          </div>
          <SqlEditor
            value={sql}
            onChange={setSql}
            errors={errors}
            errorsFor={validation.text}
            onReady={onReady}
            placeholder={"-- Create tables with a connector, then SELECT or INSERT INTO …\n-- Pick one of the examples above to start."}
          />
          <div className="diagnostics" data-testid="diagnostics">
            {validation.status === "invalid" && current ? (
              errors.map((e, i) => (
                <div
                  key={i}
                  className="diag"
                  role="button"
                  tabIndex={0}
                  onClick={() => e.span && view.current && jumpTo(view.current, e.span.start.line, e.span.start.column)}
                >
                  <span className="where">{e.span ? `Line ${e.span.start.line}, col ${e.span.start.column}` : "Query"}</span>
                  <span className="msg">{e.message}</span>
                </div>
              ))
            ) : validation.status === "error" ? (
              <InlineError error={validation.error} prefix="Couldn't validate the query:" />
            ) : (
              <span className="small muted">
                Checked as you type. Errors are underlined in the editor; hover one for its message.
              </span>
            )}
          </div>
        </div>

        <div className="card">
          <div className="card-header">
            <h2 className="grow">Planned dataflow</h2>
            {graph && (
              <span className="small muted">
                {graph.nodes.length} {graph.nodes.length === 1 ? "node" : "nodes"}
                {graphStale && " · last valid plan"}
              </span>
            )}
          </div>
          {graph ? (
            <DataflowGraph graph={graph} className={graphStale ? "faded tall" : "tall"} />
          ) : (
            <div className="graph-host tall">
              <div className="graph-overlay">
                {validation.status === "invalid" ? "Fix the errors to see the plan." : "The plan of a valid query appears here."}
              </div>
            </div>
          )}
        </div>
      </div>

      <div style={{ marginTop: 16 }}>
        {preview.state.phase === "failed" && preview.state.error && (
          <div style={{ marginBottom: 12 }} data-testid="preview-error">
            <InlineError error={new Error(preview.state.error)} prefix="Preview failed:" />
          </div>
        )}
        <OutputTable
          rows={preview.state.rows}
          total={preview.state.total}
          onClear={preview.clear}
          status={<PreviewStatus s={preview.state} />}
          emptyText={
            preview.state.phase === "idle"
              ? "Press Preview to run the query for a short while and watch its output here. Previews write to no sink."
              : preview.state.phase === "live" || preview.state.phase === "waiting" || preview.state.phase === "starting"
                ? "Waiting for the first rows…"
                : "No rows."
          }
        />
      </div>

      {launching && (
        <LaunchDialog
          query={sql}
          onClose={() => setLaunching(false)}
          onLaunched={(p) => {
            preview.stop();
            try {
              localStorage.removeItem(DRAFT_KEY);
            } catch {
              /* private mode */
            }
            setLaunching(false);
            navigate(`/pipelines/${p.id}`);
          }}
        />
      )}
    </>
  );
}
