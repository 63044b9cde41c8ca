// Test helpers: a fake API behind fetch, and a render with the app's
// providers.
import type { ReactElement, ReactNode } from "react";
import { vi } from "vitest";
import { render } from "@testing-library/react";
import { QueryClient, QueryClientProvider } from "@tanstack/react-query";
import { Router } from "../lib/router";
import { ToastProvider } from "../components/Toasts";
import type { Job, Pipeline } from "../api/types";

export interface Call {
  method: string;
  path: string;
  body: unknown;
}

type Handler = (call: Call) => Response | unknown | Promise<Response | unknown>;

/** Answers fetch from a table of "METHOD /path" → handler (path without /api/v1, query string kept). */
export function mockApi(routes: Record<string, Handler>) {
  const calls: Call[] = [];
  const fetchMock = vi.fn(async (input: RequestInfo | URL, init?: RequestInit) => {
    const url = new URL(typeof input === "string" ? input : input.toString(), "http://console.test");
    const method = (init?.method ?? "GET").toUpperCase();
    const path = url.pathname.replace(/^\/api\/v1/, "") + url.search;
    const body = typeof init?.body === "string" ? JSON.parse(init.body) : undefined;
    const call = { method, path, body };
    calls.push(call);
    const key = Object.keys(routes).find((k) => {
      const [m, p] = k.split(" ");
      if (m !== method) return false;
      if (p.endsWith("*")) return path.startsWith(p.slice(0, -1));
      return p === path || p === path.split("?")[0];
    });
    if (!key) return json({ error: `no mock for ${method} ${path}` }, 404);
    const out = await routes[key](call);
    if (out instanceof Response) return out;
    return json(out);
  });
  vi.stubGlobal("fetch", fetchMock);
  return { calls, fetchMock };
}

export function json(body: unknown, status = 200): Response {
  return new Response(body === undefined ? "" : JSON.stringify(body), {
    status,
    headers: { "Content-Type": "application/json" },
  });
}

export function unreachable(): never {
  throw new TypeError("Failed to fetch");
}

/** An SSE response whose events are sent one chunk at a time. */
export function sseResponse(chunks: string[], delayMs = 5): Response {
  const enc = new TextEncoder();
  const stream = new ReadableStream<Uint8Array>({
    async start(ctl) {
      for (const c of chunks) {
        await new Promise((r) => setTimeout(r, delayMs));
        ctl.enqueue(enc.encode(c));
      }
      ctl.close();
    },
  });
  return new Response(stream, { status: 200, headers: { "Content-Type": "text/event-stream" } });
}

export function renderWithProviders(ui: ReactElement, { path = "/" }: { path?: string } = {}) {
  window.history.replaceState(null, "", path);
  const qc = new QueryClient({
    defaultOptions: { queries: { retry: false, refetchInterval: false, staleTime: 0 }, mutations: { retry: false } },
  });
  const wrapper = ({ children }: { children: ReactNode }) => (
    <QueryClientProvider client={qc}>
      <Router>
        <ToastProvider>{children}</ToastProvider>
      </Router>
    </QueryClientProvider>
  );
  return { ...render(ui, { wrapper }), queryClient: qc };
}

const nowMicros = () => Date.now() * 1000;

export function pipeline(over: Partial<Pipeline> = {}): Pipeline {
  return {
    id: "pl_test000001",
    name: "orders",
    query: "CREATE TABLE impulse WITH (connector = 'impulse');\nSELECT counter FROM impulse;",
    udfs: [],
    checkpoint_interval_micros: 10_000_000,
    stop: "none",
    created_at: nowMicros() - 60_000_000,
    action: "checkpoint",
    action_text: "Stop",
    action_in_progress: false,
    graph: {
      nodes: [
        {
          node_id: 1,
          operator: "impulse source -> project -> blackhole sink",
          description: "impulse (100 events/s) -> SELECT counter -> blackhole",
          parallelism: 2,
        },
      ],
      edges: [],
    },
    preview: false,
    ...over,
  };
}

export function job(over: Partial<Job> = {}): Job {
  return {
    id: "job_test00001",
    pipeline_id: "pl_test000001",
    running_desired: true,
    state: "Running",
    run_id: 1,
    start_time: nowMicros() - 30_000_000,
    finish_time: null,
    tasks: 2,
    failure_reason: null,
    created_at: nowMicros() - 60_000_000,
    action: "checkpoint",
    action_text: "Stop",
    action_in_progress: false,
    ...over,
  };
}
