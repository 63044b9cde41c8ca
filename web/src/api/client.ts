// A small client for /api/v1. Every failure becomes an ApiError whose
// message is what a person should read: the API's own `error` text when it
// sent one, otherwise a description of what went wrong on the way.

import type {
  Checkpoint,
  Collection,
  Job,
  JobLogMessage,
  OperatorCheckpointGroup,
  OperatorMetricGroup,
  PaginatedCollection,
  Pipeline,
  PipelinePatch,
  PipelinePost,
  QueryValidationResult,
} from "./types";

export const API_BASE = "/api/v1";

export class ApiError extends Error {
  /** HTTP status; 0 when the API could not be reached at all. */
  readonly status: number;
  readonly path: string;
  constructor(status: number, message: string, path: string) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.path = path;
  }
  get unreachable(): boolean {
    return this.status === 0 || this.status === 502 || this.status === 504;
  }
  get notFound(): boolean {
    return this.status === 404;
  }
}

export function isApiError(e: unknown): e is ApiError {
  return e instanceof ApiError;
}

/** Reads the API's `{"error": "…"}` body, or describes what came back. */
export async function errorFromResponse(res: Response, path: string): Promise<ApiError> {
  let message = "";
  const text = await res.text().catch(() => "");
  try {
    const body = JSON.parse(text) as { error?: unknown };
    if (body && typeof body.error === "string") message = body.error;
  } catch {
    // not JSON: a proxy page or plain text
  }
  if (!message) {
    const plain = text.trim();
    message =
      plain && plain.length < 300 && !plain.startsWith("<")
        ? plain
        : `The API answered ${res.status}${res.statusText ? " " + res.statusText : ""} without an error message`;
  }
  return new ApiError(res.status, message, path);
}

export interface RequestOptions {
  method?: string;
  body?: unknown;
  signal?: AbortSignal;
}

export async function request<T>(path: string, opts: RequestOptions = {}): Promise<T> {
  const init: RequestInit = { method: opts.method ?? "GET", signal: opts.signal, headers: {} };
  if (opts.body !== undefined) {
    init.body = JSON.stringify(opts.body);
    (init.headers as Record<string, string>)["Content-Type"] = "application/json";
  }
  let res: Response;
  try {
    res = await fetch(API_BASE + path, init);
  } catch (e) {
    if (e instanceof DOMException && e.name === "AbortError") throw e;
    throw new ApiError(0, "The Runnel API could not be reached", path);
  }
  if (!res.ok) throw await errorFromResponse(res, path);
  const text = await res.text();
  if (!text) return undefined as T;
  try {
    return JSON.parse(text) as T;
  } catch {
    throw new ApiError(res.status, "The API sent a response that is not JSON", path);
  }
}

const enc = encodeURIComponent;

export const api = {
  ping: (signal?: AbortSignal) => request<string>("/ping", { signal }),

  listPipelines: (opts: { limit?: number; startingAfter?: string } = {}, signal?: AbortSignal) => {
    const q = new URLSearchParams();
    if (opts.limit) q.set("limit", String(opts.limit));
    if (opts.startingAfter) q.set("starting_after", opts.startingAfter);
    const qs = q.toString();
    return request<PaginatedCollection<Pipeline>>(`/pipelines${qs ? "?" + qs : ""}`, { signal });
  },
  listJobs: (signal?: AbortSignal) => request<Collection<Job>>("/jobs", { signal }),
  getPipeline: (id: string, signal?: AbortSignal) => request<Pipeline>(`/pipelines/${enc(id)}`, { signal }),
  pipelineJobs: (id: string, signal?: AbortSignal) =>
    request<Collection<Job>>(`/pipelines/${enc(id)}/jobs`, { signal }),
  createPipeline: (body: PipelinePost) => request<Pipeline>("/pipelines", { method: "POST", body }),
  createPreview: (query: string) =>
    request<Pipeline>("/pipelines/preview", { method: "POST", body: { query } }),
  validateQuery: (query: string, signal?: AbortSignal) =>
    request<QueryValidationResult>("/pipelines/validate_query", { method: "POST", body: { query }, signal }),
  patchPipeline: (id: string, body: PipelinePatch) =>
    request<Pipeline>(`/pipelines/${enc(id)}`, { method: "PATCH", body }),
  restartPipeline: (id: string) =>
    request<Pipeline>(`/pipelines/${enc(id)}/restart`, { method: "POST", body: {} }),
  deletePipeline: (id: string) => request<void>(`/pipelines/${enc(id)}`, { method: "DELETE" }),
  jobErrors: (
    pipelineId: string,
    jobId: string,
    opts: { limit?: number; startingAfter?: string } = {},
    signal?: AbortSignal,
  ) => {
    const q = new URLSearchParams();
    if (opts.limit) q.set("limit", String(opts.limit));
    if (opts.startingAfter) q.set("starting_after", opts.startingAfter);
    return request<PaginatedCollection<JobLogMessage>>(
      `/pipelines/${enc(pipelineId)}/jobs/${enc(jobId)}/errors?${q}`,
      { signal },
    );
  },
  checkpoints: (pipelineId: string, jobId: string, signal?: AbortSignal) =>
    request<Collection<Checkpoint>>(`/pipelines/${enc(pipelineId)}/jobs/${enc(jobId)}/checkpoints`, { signal }),
  checkpointDetails: (pipelineId: string, jobId: string, epoch: number, signal?: AbortSignal) =>
    request<Collection<OperatorCheckpointGroup>>(
      `/pipelines/${enc(pipelineId)}/jobs/${enc(jobId)}/checkpoints/${epoch}/operator_checkpoint_groups`,
      { signal },
    ),
  metrics: (pipelineId: string, jobId: string, signal?: AbortSignal) =>
    request<Collection<OperatorMetricGroup>>(
      `/pipelines/${enc(pipelineId)}/jobs/${enc(jobId)}/operator_metric_groups`,
      { signal },
    ),
  outputPath: (pipelineId: string, jobId: string) =>
    `${API_BASE}/pipelines/${enc(pipelineId)}/jobs/${enc(jobId)}/output`,
};
