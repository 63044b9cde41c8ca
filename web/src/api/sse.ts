// Server-sent events over fetch. EventSource hides the status and body of
// a failed request (the API answers 400 with {"error": …} when a preview
// job is not running yet) and reconnects on its own; fetch lets the
// console show the API's message and decide itself when to retry.

import { errorFromResponse, ApiError } from "./client";
import type { OutputData } from "./types";

export interface SseEvent {
  event: string; // "message" when the stream gave no `event:` line
  id?: string;
  data: string;
}

/** An incremental parser of the text/event-stream format. */
export class SseParser {
  private buf = "";
  private event = "";
  private id: string | undefined;
  private data: string[] = [];

  /** Feeds a chunk of text; returns the events it completed. */
  push(chunk: string): SseEvent[] {
    this.buf += chunk;
    const out: SseEvent[] = [];
    for (;;) {
      const m = /\r\n|\r|\n/.exec(this.buf);
      if (!m) break;
      // A lone \r at the very end may be the first half of \r\n.
      if (m[0] === "\r" && m.index === this.buf.length - 1) break;
      const line = this.buf.slice(0, m.index);
      this.buf = this.buf.slice(m.index + m[0].length);
      const ev = this.line(line);
      if (ev) out.push(ev);
    }
    return out;
  }

  private line(line: string): SseEvent | undefined {
    if (line === "") {
      if (this.data.length === 0) {
        this.event = "";
        return undefined;
      }
      const ev: SseEvent = { event: this.event || "message", id: this.id, data: this.data.join("\n") };
      this.event = "";
      this.data = [];
      return ev;
    }
    if (line.startsWith(":")) return undefined; // a comment, e.g. keep-alive
    const colon = line.indexOf(":");
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? "" : line.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    switch (field) {
      case "event":
        this.event = value;
        break;
      case "data":
        this.data.push(value);
        break;
      case "id":
        this.id = value;
        break;
    }
    return undefined;
  }
}

/** One row of preview output with its place in the stream. */
export interface OutputRow {
  /** The row's number in its subtask's output (start_id + i). */
  id: number;
  /** Event time in milliseconds since the epoch, when known. */
  time: number | null;
  subtask: number;
  values: Record<string, unknown>;
}

/** Turns an OutputData event into rows. */
export function rowsOf(d: OutputData): OutputRow[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(d.batch);
  } catch {
    return [];
  }
  if (!Array.isArray(parsed)) return [];
  return parsed.map((values, i) => ({
    id: d.start_id + i,
    time: d.timestamps?.[i] !== undefined ? Math.floor(d.timestamps[i] / 1000) : null,
    subtask: d.subtask_idx,
    values: values && typeof values === "object" ? (values as Record<string, unknown>) : { value: values },
  }));
}

export interface OutputHandlers {
  onOpen?: () => void;
  onRows: (rows: OutputRow[]) => void;
  /** The job's output ended (`event: done`). */
  onDone: (info: { dropped: number }) => void;
}

/**
 * Reads a preview job's output until it ends, the signal aborts, or the
 * request fails (the returned promise rejects with an ApiError).
 */
export async function readOutput(url: string, h: OutputHandlers, signal: AbortSignal): Promise<void> {
  let res: Response;
  try {
    res = await fetch(url, { headers: { Accept: "text/event-stream" }, signal });
  } catch (e) {
    if (signal.aborted) return;
    throw new ApiError(0, "The Runnel API could not be reached", url);
  }
  if (!res.ok) throw await errorFromResponse(res, url);
  if (!res.body) throw new ApiError(res.status, "The output stream has no body", url);
  h.onOpen?.();
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  const parser = new SseParser();
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      for (const ev of parser.push(value)) {
        if (ev.event === "done") {
          let dropped = 0;
          try {
            dropped = Number((JSON.parse(ev.data) as { dropped?: number }).dropped ?? 0);
          } catch {
            /* keep 0 */
          }
          h.onDone({ dropped });
          return;
        }
        if (ev.event !== "message") continue;
        try {
          const rows = rowsOf(JSON.parse(ev.data) as OutputData);
          if (rows.length) h.onRows(rows);
        } catch {
          // an event that is not OutputData: skip it
        }
      }
    }
  } catch (e) {
    if (signal.aborted) return;
    throw new ApiError(0, "The output stream was interrupted", url);
  } finally {
    reader.releaseLock();
  }
  // The connection closed without `event: done`.
  if (!signal.aborted) throw new ApiError(0, "The output stream closed before the job finished", url);
}
