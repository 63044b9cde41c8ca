// A live table of preview rows with a row count, pause, clear and
// auto-scroll.
import { useEffect, useLayoutEffect, useMemo, useRef, useState, type ReactNode } from "react";
import type { OutputRow } from "../api/sse";
import { formatClockMs, formatInt } from "../lib/format";
import { Pause, Play, Trash } from "./icons";

export function columnsOf(rows: OutputRow[]): string[] {
  const seen = new Set<string>();
  const cols: string[] = [];
  // The first rows decide the order; later ones may add columns.
  for (const r of rows.slice(0, 50).concat(rows.slice(-50))) {
    for (const k of Object.keys(r.values)) {
      if (!seen.has(k)) {
        seen.add(k);
        cols.push(k);
      }
    }
  }
  return cols;
}

function cell(v: unknown): ReactNode {
  if (v === null || v === undefined) return <span className="null">null</span>;
  if (typeof v === "object") return JSON.stringify(v);
  if (typeof v === "number") return String(v);
  return String(v);
}

export interface OutputTableProps {
  rows: OutputRow[];
  total: number;
  /** Shown left of the controls (status of the stream). */
  status?: ReactNode;
  onClear: () => void;
  emptyText?: ReactNode;
  /** Extra buttons, e.g. Stop. */
  extra?: ReactNode;
}

export function OutputTable({ rows, total, status, onClear, emptyText, extra }: OutputTableProps) {
  const [paused, setPaused] = useState<{ rows: OutputRow[]; total: number } | null>(null);
  const [autoScroll, setAutoScroll] = useState(true);
  const scroller = useRef<HTMLDivElement>(null);
  const shown = paused ? paused.rows : rows;
  const columns = useMemo(() => columnsOf(shown), [shown]);
  const waiting = paused ? total - paused.total : 0;

  useLayoutEffect(() => {
    const el = scroller.current;
    if (el && autoScroll && !paused) el.scrollTop = el.scrollHeight;
  }, [shown, autoScroll, paused]);

  // A clear while paused starts from nothing.
  useEffect(() => {
    if (paused && total < paused.total) setPaused({ rows: [], total: 0 });
  }, [total, paused]);

  return (
    <div className="card" data-testid="output-panel">
      <div className="card-header">
        <div className="grow preview-toolbar">
          <h2>Output</h2>
          {status}
        </div>
        <span className="small muted num" data-testid="row-count" data-count={total}>
          {formatInt(total)} {total === 1 ? "row" : "rows"}
          {total > rows.length && ` (showing last ${formatInt(rows.length)})`}
          {paused && waiting > 0 && ` · ${formatInt(waiting)} new while paused`}
        </span>
        <label className="check">
          <input type="checkbox" checked={autoScroll} onChange={(e) => setAutoScroll(e.target.checked)} />
          Auto-scroll
        </label>
        <button
          className="btn sm"
          onClick={() => setPaused(paused ? null : { rows, total })}
          aria-pressed={!!paused}
          data-testid="pause-button"
        >
          {paused ? <Play className="icon" /> : <Pause className="icon" />}
          {paused ? "Resume" : "Pause"}
        </button>
        <button
          className="btn sm"
          onClick={() => {
            onClear();
            if (paused) setPaused({ rows: [], total: 0 });
          }}
          disabled={total === 0 && rows.length === 0}
          data-testid="clear-button"
        >
          <Trash className="icon" />
          Clear
        </button>
        {extra}
      </div>
      <div className="output-scroll" ref={scroller}>
        {shown.length === 0 ? (
          <div className="state-view compact muted">{emptyText ?? "No rows yet."}</div>
        ) : (
          <table className="table" data-testid="output-table">
            <thead>
              <tr>
                <th className="right">#</th>
                <th>event time</th>
                {columns.map((c) => (
                  <th key={c}>{c}</th>
                ))}
                <th className="filler" aria-hidden />
              </tr>
            </thead>
            <tbody>
              {shown.map((r) => (
                <tr key={`${r.subtask}-${r.id}`}>
                  <td className="right muted">{r.id}</td>
                  <td className="muted">{r.time !== null ? formatClockMs(r.time) : "—"}</td>
                  {columns.map((c) => (
                    <td key={c}>{cell(r.values[c])}</td>
                  ))}
                  <td className="filler" />
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </div>
    </div>
  );
}
