// A timeline of checkpoint phases: one row per job phase, operator or
// subtask, each span placed by its start and finish time.
import type { CheckpointEventSpan } from "../api/types";
import { formatBytes, formatMicros } from "../lib/format";

export const SPAN_COLORS: Record<string, string> = {
  Alignment: "#f59e0b",
  Sync: "#3b82f6",
  Async: "#8b5cf6",
  Committing: "#16a34a",
  Checkpointing: "#64748b",
  CheckpointingOperators: "#3b82f6",
  WritingMetadata: "#0d9488",
  Compacting: "#a16207",
};

export function spanColor(event: string): string {
  return SPAN_COLORS[event] ?? "#94a3b8";
}

export interface TimelineRow {
  key: string;
  label: string;
  /** A subtask row under an operator row. */
  sub?: boolean;
  /** An operator's heading row. */
  group?: boolean;
  spans: CheckpointEventSpan[];
  bytes?: number;
}

export interface SpanTimelineProps {
  rows: TimelineRow[];
  /** The range, in µs since the epoch. */
  start: number;
  end: number;
  /** Used for spans still running (finish_time 0); defaults to end. */
  now?: number;
  showBytes?: boolean;
  /** Heading of the label column. */
  labelHeading?: string;
}

function ticks(duration: number): number[] {
  return [0, 0.25, 0.5, 0.75, 1].map((f) => f * duration);
}

export function SpanTimeline({ rows, start, end, now, showBytes, labelHeading }: SpanTimelineProps) {
  const total = Math.max(end - start, 1);
  const pct = (t: number) => Math.min(100, Math.max(0, ((t - start) / total) * 100));
  const order = Object.keys(SPAN_COLORS);
  const rank = (e: string) => (order.includes(e) ? order.indexOf(e) : order.length);
  const events = [...new Set(rows.flatMap((r) => r.spans.map((s) => s.event)))].sort((a, b) => rank(a) - rank(b));
  return (
    <div className="timeline" data-testid="span-timeline">
      <div className="tl-row" style={{ minHeight: 20 }}>
        <span className="small muted">{labelHeading ?? ""}</span>
        <div className="tl-axis" aria-hidden>
          {ticks(total).map((t, i) => (
            <span key={i} style={{ left: `${(t / total) * 100}%` }}>
              {formatMicros(t)}
            </span>
          ))}
        </div>
        {showBytes ? <span className="small muted tl-bytes">Size</span> : <span />}
      </div>
      {rows.map((r) => (
        <div className={`tl-row${r.group ? " group" : ""}`} key={r.key} data-testid="timeline-row">
          <span className={`tl-label${r.sub ? " sub" : ""}`} title={r.label}>
            {r.label}
          </span>
          <div className="tl-track">
            {r.spans.map((s, i) => {
              const open = !s.finish_time;
              const finish = open ? (now ?? end) : s.finish_time;
              const left = pct(s.start_time);
              const width = Math.max(pct(finish) - left, 0.4);
              const dur = formatMicros(finish - s.start_time);
              return (
                <div
                  key={i}
                  className={`tl-span${open ? " open" : ""}`}
                  data-event={s.event}
                  style={{ left: `${left}%`, width: `${width}%`, background: spanColor(s.event) }}
                  title={`${s.event}: ${dur}${open ? " so far" : ""}${s.description ? ` — ${s.description}` : ""}`}
                />
              );
            })}
          </div>
          {showBytes ? (
            <span className="tl-bytes">{r.bytes !== undefined ? formatBytes(r.bytes) : ""}</span>
          ) : (
            <span />
          )}
        </div>
      ))}
      {events.length > 0 && (
        <div className="legend" style={{ marginTop: 12 }}>
          {events.map((e) => (
            <span key={e}>
              <span className="swatch" style={{ background: spanColor(e) }} />
              {e}
            </span>
          ))}
        </div>
      )}
    </div>
  );
}
