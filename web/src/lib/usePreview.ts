// Runs a preview: creates a preview pipeline, waits for its job to run,
// then reads its output stream into rows until the stream says `done`.
import { useCallback, useEffect, useRef, useState } from "react";
import { api, ApiError, isApiError } from "../api/client";
import { readOutput, type OutputRow } from "../api/sse";

export type PreviewPhase = "idle" | "starting" | "waiting" | "live" | "done" | "failed" | "stopping";

export interface PreviewState {
  phase: PreviewPhase;
  pipelineId?: string;
  jobId?: string;
  jobState?: string;
  /** The newest rows, at most MAX_ROWS. */
  rows: OutputRow[];
  /** Rows received since the last clear. */
  total: number;
  dropped: number;
  error?: string;
  startedAt?: number;
}

export const MAX_ROWS = 2000;
const sleep = (ms: number, signal: AbortSignal) =>
  new Promise<void>((resolve) => {
    const t = setTimeout(resolve, ms);
    signal.addEventListener("abort", () => {
      clearTimeout(t);
      resolve();
    });
  });

const initial: PreviewState = { phase: "idle", rows: [], total: 0, dropped: 0 };

export function usePreview() {
  const [state, setState] = useState<PreviewState>(initial);
  const abort = useRef<AbortController | null>(null);
  const pending = useRef<OutputRow[]>([]);
  const flushTimer = useRef<number | null>(null);
  const current = useRef<{ pipelineId?: string; phase: PreviewPhase }>({ phase: "idle" });

  const patch = useCallback((p: Partial<PreviewState>) => {
    setState((s) => {
      const n = { ...s, ...p };
      current.current = { pipelineId: n.pipelineId, phase: n.phase };
      return n;
    });
  }, []);

  const flush = useCallback(() => {
    flushTimer.current = null;
    const batch = pending.current;
    if (!batch.length) return;
    pending.current = [];
    setState((s) => {
      const rows = s.rows.length + batch.length > MAX_ROWS ? [...s.rows, ...batch].slice(-MAX_ROWS) : [...s.rows, ...batch];
      return { ...s, rows, total: s.total + batch.length };
    });
  }, []);

  const onRows = useCallback(
    (rows: OutputRow[]) => {
      pending.current.push(...rows);
      if (flushTimer.current === null) flushTimer.current = window.setTimeout(flush, 80);
    },
    [flush],
  );

  const stopRemote = (pipelineId: string | undefined) => {
    if (pipelineId) void api.patchPipeline(pipelineId, { stop: "immediate" }).catch(() => {});
  };

  const start = useCallback(
    async (query: string) => {
      abort.current?.abort();
      const prev = current.current;
      if (prev.pipelineId && ["starting", "waiting", "live", "stopping"].includes(prev.phase)) stopRemote(prev.pipelineId);
      const ctl = new AbortController();
      abort.current = ctl;
      const signal = ctl.signal;
      pending.current = [];
      setState({ ...initial, phase: "starting", startedAt: Date.now() });
      current.current = { phase: "starting" };
      try {
        const p = await api.createPreview(query);
        if (signal.aborted) {
          stopRemote(p.id);
          return;
        }
        patch({ pipelineId: p.id, phase: "waiting" });
        // Wait for the job to run, then stream; the API answers 400 while
        // the job is not Running yet.
        for (let attempt = 0; !signal.aborted; attempt++) {
          const jobs = await api.pipelineJobs(p.id, signal);
          const job = jobs.data[0];
          if (job) patch({ jobId: job.id, jobState: job.state });
          if (job?.state === "Failed" || job?.state === "Failing") {
            patch({ phase: "failed", error: job.failure_reason?.error ?? "The preview job failed" });
            return;
          }
          if (job && (job.state === "Stopped" || job.state === "Finished")) {
            patch({ phase: "done" });
            return;
          }
          if (job?.state === "Running") {
            try {
              patch({ phase: "live" });
              let finished = false;
              await readOutput(
                api.outputPath(p.id, job.id),
                {
                  onRows,
                  onDone: ({ dropped }) => {
                    finished = true;
                    flush();
                    patch({ dropped });
                  },
                },
                signal,
              );
              if (signal.aborted) return;
              if (finished) {
                // Did it end because it failed?
                const after = await api.pipelineJobs(p.id, signal).catch(() => null);
                const j = after?.data[0];
                if (j?.failure_reason) patch({ phase: "failed", jobState: j.state, error: j.failure_reason.error });
                else patch({ phase: "done", jobState: j?.state });
                return;
              }
            } catch (e) {
              if (signal.aborted) return;
              // 400: not running (yet, or any more): look at the job again.
              if (!(isApiError(e) && e.status === 400) || attempt > 40) throw e;
              patch({ phase: "waiting" });
            }
          }
          await sleep(attempt < 10 ? 250 : 600, signal);
        }
      } catch (e) {
        if (signal.aborted) return;
        flush();
        patch({
          phase: "failed",
          error: isApiError(e) ? (e.unreachable && e.status === 0 ? "The Runnel API could not be reached" : e.message) : String(e),
        });
      }
    },
    [flush, onRows, patch],
  );

  const stop = useCallback(() => {
    const { pipelineId, phase } = current.current;
    if (!pipelineId || !["starting", "waiting", "live"].includes(phase)) return;
    patch({ phase: "stopping" });
    api.patchPipeline(pipelineId, { stop: "immediate" }).catch((e: unknown) => {
      patch({ error: e instanceof ApiError ? e.message : String(e) });
    });
    // The stream ends with `done` once the job has stopped; if no stream
    // is open yet, end here.
    window.setTimeout(() => {
      if (current.current.phase === "stopping") {
        abort.current?.abort();
        flush();
        patch({ phase: "done" });
      }
    }, 3000);
  }, [flush, patch]);

  const clear = useCallback(() => {
    pending.current = [];
    setState((s) => ({ ...s, rows: [], total: 0 }));
  }, []);

  // Leaving the page stops the preview: nobody is watching it any more.
  useEffect(
    () => () => {
      abort.current?.abort();
      const { pipelineId, phase } = current.current;
      if (pipelineId && ["starting", "waiting", "live", "stopping"].includes(phase)) stopRemote(pipelineId);
      if (flushTimer.current !== null) window.clearTimeout(flushTimer.current);
    },
    [],
  );

  return { state, start, stop, clear };
}
