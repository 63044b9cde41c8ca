// React Query hooks over the API, with the polling cadences of
// lifecycle.md §2.3: pipelines and jobs every 2 s, metrics every 2 s,
// errors and checkpoints every 5 s.
import { keepPreviousData, useMutation, useQuery, useQueryClient, type QueryClient } from "@tanstack/react-query";
import { api, isApiError } from "./client";
import type { Job, PaginatedCollection, Pipeline, PipelinePatch } from "./types";
import { recordEvent } from "../lib/history";

export const POLL = { pipelines: 2000, jobs: 2000, metrics: 2000, errors: 5000, checkpoints: 5000, ping: 5000 };

export function retryPolicy(failureCount: number, error: unknown): boolean {
  // A 4xx will not change on retry; a network blip may.
  if (isApiError(error) && error.status >= 400 && error.status < 500) return false;
  return failureCount < 1;
}

export function usePing() {
  return useQuery({
    queryKey: ["ping"],
    queryFn: ({ signal }) => api.ping(signal),
    refetchInterval: (q) => (q.state.status === "error" ? 2000 : POLL.ping),
    retry: false,
  });
}

export function usePipelines(limit: number, startingAfter?: string) {
  return useQuery({
    queryKey: ["pipelines", limit, startingAfter ?? null],
    queryFn: ({ signal }) => api.listPipelines({ limit, startingAfter }, signal),
    refetchInterval: POLL.pipelines,
    placeholderData: keepPreviousData,
  });
}

export function useJobs() {
  return useQuery({
    queryKey: ["jobs"],
    queryFn: ({ signal }) => api.listJobs(signal),
    refetchInterval: POLL.jobs,
  });
}

export function usePipeline(id: string) {
  return useQuery({
    queryKey: ["pipeline", id],
    queryFn: ({ signal }) => api.getPipeline(id, signal),
    refetchInterval: (q) => (isApiError(q.state.error) && q.state.error.notFound ? false : POLL.pipelines),
  });
}

export function usePipelineJobs(id: string, enabled = true) {
  return useQuery({
    queryKey: ["pipelineJobs", id],
    queryFn: async ({ signal }) => {
      const r = await api.pipelineJobs(id, signal);
      for (const j of r.data) recordEvent(j.id, { kind: "state", state: j.state, at: Date.now() });
      return r;
    },
    refetchInterval: (q) => (isApiError(q.state.error) && q.state.error.notFound ? false : POLL.jobs),
    enabled,
  });
}

export function useMetrics(pipelineId: string, jobId: string | undefined, active: boolean) {
  return useQuery({
    queryKey: ["metrics", pipelineId, jobId],
    queryFn: ({ signal }) => api.metrics(pipelineId, jobId!, signal),
    enabled: !!jobId,
    refetchInterval: active ? POLL.metrics : false,
  });
}

export function useJobErrors(pipelineId: string, jobId: string | undefined, limit: number, cursor?: string) {
  return useQuery({
    queryKey: ["errors", pipelineId, jobId, limit, cursor ?? null],
    queryFn: ({ signal }) => api.jobErrors(pipelineId, jobId!, { limit, startingAfter: cursor }, signal),
    enabled: !!jobId,
    refetchInterval: POLL.errors,
    placeholderData: keepPreviousData,
  });
}

export function useCheckpoints(pipelineId: string, jobId: string | undefined) {
  return useQuery({
    queryKey: ["checkpoints", pipelineId, jobId],
    queryFn: ({ signal }) => api.checkpoints(pipelineId, jobId!, signal),
    enabled: !!jobId,
    refetchInterval: POLL.checkpoints,
  });
}

export function useCheckpointDetails(pipelineId: string, jobId: string | undefined, epoch: number | null, finished: boolean) {
  return useQuery({
    queryKey: ["checkpointDetails", pipelineId, jobId, epoch],
    queryFn: ({ signal }) => api.checkpointDetails(pipelineId, jobId!, epoch!, signal),
    enabled: !!jobId && epoch !== null,
    // A finished checkpoint does not change any more.
    staleTime: finished ? Infinity : 0,
    refetchInterval: finished ? false : POLL.checkpoints,
  });
}

/** Puts a pipeline the API returned into every cache that shows it. */
export function storePipeline(qc: QueryClient, p: Pipeline) {
  qc.setQueryData(["pipeline", p.id], p);
  qc.setQueriesData<PaginatedCollection<Pipeline>>({ queryKey: ["pipelines"] }, (old) =>
    old ? { ...old, data: old.data.map((x) => (x.id === p.id ? p : x)) } : old,
  );
}

export function refreshPipeline(qc: QueryClient, id: string) {
  void qc.invalidateQueries({ queryKey: ["pipeline", id] });
  void qc.invalidateQueries({ queryKey: ["pipelineJobs", id] });
  void qc.invalidateQueries({ queryKey: ["pipelines"] });
  void qc.invalidateQueries({ queryKey: ["jobs"] });
}

export type PipelineOp =
  | { kind: "patch"; body: PipelinePatch; label: string }
  | { kind: "restart"; label: string };

/** Stop / start / restart / rescale / interval changes. */
export function usePipelineOp(id: string, jobId?: string) {
  const qc = useQueryClient();
  return useMutation({
    mutationFn: (op: PipelineOp) => (op.kind === "restart" ? api.restartPipeline(id) : api.patchPipeline(id, op.body)),
    // When the user asked, not when the API answered (the job may already
    // have moved on by then).
    onMutate: () => ({ at: Date.now() }),
    onSuccess: (p, op, ctx) => {
      storePipeline(qc, p);
      if (jobId) recordEvent(jobId, { kind: "action", label: op.label, at: ctx?.at ?? Date.now() });
      refreshPipeline(qc, id);
    },
  });
}

export function useDeletePipeline(id: string) {
  const qc = useQueryClient();
  return useMutation({
    mutationFn: () => api.deletePipeline(id),
    onSuccess: () => {
      qc.removeQueries({ queryKey: ["pipeline", id] });
      qc.setQueriesData<PaginatedCollection<Pipeline>>({ queryKey: ["pipelines"] }, (old) =>
        old ? { ...old, data: old.data.filter((x) => x.id !== id) } : old,
      );
      void qc.invalidateQueries({ queryKey: ["pipelines"] });
      void qc.invalidateQueries({ queryKey: ["jobs"] });
    },
  });
}

/** The job of a pipeline (there is one; the newest wins if not). */
export function jobOf(jobs: Job[] | undefined, pipelineId: string): Job | undefined {
  return jobs?.find((j) => j.pipeline_id === pipelineId);
}
