import { describe, expect, it } from "vitest";
import { screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import PipelineDetailPage from "./PipelineDetailPage";
import { job, json, mockApi, pipeline, renderWithProviders, unreachable } from "../test/utils";
import type { JobLogMessage, OperatorMetricGroup } from "../api/types";

const P = "pl_test000001";
const J = "job_test00001";
const now = Date.now() * 1000;

function metrics(): OperatorMetricGroup[] {
  const pts = (v: number) => [0, 1, 2].map((i) => ({ time: now - (3 - i) * 1_000_000, value: v }));
  return [
    {
      node_id: 1,
      metric_groups: [
        { name: "backpressure", subtasks: [0, 1].map((index) => ({ index, metrics: pts(index === 1 ? 0.7 : 0.1) })) },
        { name: "messages_recv", subtasks: [0, 1].map((index) => ({ index, metrics: pts(50) })) },
        { name: "messages_sent", subtasks: [0, 1].map((index) => ({ index, metrics: pts(50) })) },
        { name: "bytes_recv", subtasks: [0, 1].map((index) => ({ index, metrics: pts(1024) })) },
        { name: "bytes_sent", subtasks: [0, 1].map((index) => ({ index, metrics: pts(512) })) },
      ],
    },
  ];
}

function errorMsg(i: number): JobLogMessage {
  return {
    id: `jlm_${i}`,
    created_at: now - i * 1_000_000,
    operator_id: "value_project_2",
    task_index: i % 2,
    level: "error",
    message: `failed to parse record ${i}`,
    details: `stack for ${i}`,
    error_domain: "user",
  };
}

function baseRoutes(extra: Record<string, Parameters<typeof mockApi>[0][string]> = {}) {
  return mockApi({
    [`GET /pipelines/${P}`]: () => pipeline(),
    [`GET /pipelines/${P}/jobs`]: () => ({ data: [job()] }),
    [`GET /pipelines/${P}/jobs/${J}/operator_metric_groups`]: () => ({ data: metrics() }),
    [`GET /pipelines/${P}/jobs/${J}/errors`]: () => ({ data: [], hasMore: false }),
    [`GET /pipelines/${P}/jobs/${J}/checkpoints`]: () => ({ data: [] }),
    ...extra,
  });
}

describe("PipelineDetailPage", () => {
  it("shows a not-found view for an unknown pipeline", async () => {
    mockApi({ "GET /pipelines/pl_nope": () => json({ error: "Pipeline not found" }, 404), "GET /pipelines/pl_nope/jobs": () => json({ error: "Pipeline not found" }, 404) });
    renderWithProviders(<PipelineDetailPage id="pl_nope" />);
    const v = await screen.findByTestId("error-notfound");
    expect(v.textContent).toMatch(/Pipeline not found/);
  });

  it("shows the unreachable view when the API is down", async () => {
    mockApi({ [`GET /pipelines/${P}`]: unreachable, [`GET /pipelines/${P}/jobs`]: unreachable });
    renderWithProviders(<PipelineDetailPage id={P} />);
    await screen.findByTestId("error-unreachable");
  });

  it("shows state, stats with units, the graph with throughput and backpressure", async () => {
    baseRoutes();
    renderWithProviders(<PipelineDetailPage id={P} />);
    expect((await screen.findByTestId("pipeline-name")).textContent).toBe("orders");
    await waitFor(() => expect(screen.getAllByText("Running").length).toBeGreaterThan(0));
    const stats = screen.getByTestId("stats");
    expect(stats.textContent).toMatch(/ParallelismRescale2/);
    expect(stats.textContent).toMatch(/10 s/);
    await waitFor(() => expect(stats.textContent).toMatch(/100 msg\/s/));
    const node = await screen.findByTestId("graph-node-1");
    await waitFor(() => expect(within(node).getByTestId("node-metrics").textContent).toMatch(/in 100 msg\/s/));
    // The worst subtask's backpressure colours the node.
    expect(within(node).getByTestId("node-metrics").textContent).toMatch(/bp 70%/);
    expect(node.style.borderLeftColor).toBe("var(--red-500)");
    expect(screen.getAllByTestId("metric-chart")).toHaveLength(3);
    expect(screen.getByTestId("state-history").textContent).toMatch(/Running/);
  });

  it("pages errors newest first and expands details", async () => {
    const page1 = Array.from({ length: 20 }, (_, i) => errorMsg(i));
    const api = baseRoutes({
      [`GET /pipelines/${P}/jobs/${J}/errors`]: (c) =>
        c.path.includes("starting_after=jlm_19") ? { data: [errorMsg(20)], hasMore: false } : { data: page1, hasMore: true },
    });
    renderWithProviders(<PipelineDetailPage id={P} />, { path: `/pipelines/${P}?tab=errors` });
    const list = await screen.findByTestId("errors-list");
    const items = within(list).getAllByTestId("error-item");
    expect(items).toHaveLength(20);
    expect(items[0].textContent).toMatch(/failed to parse record 0/);
    expect(items[0].textContent).toMatch(/value_project_2/);
    expect(items[1].textContent).toMatch(/subtask 1/);
    expect(screen.getByTestId("tab-errors").textContent).toBe("Errors20+");

    await userEvent.click(within(items[0]).getByRole("button"));
    expect(within(items[0]).getByTestId("error-details").textContent).toMatch(/stack for 0/);

    await userEvent.click(screen.getByTestId("errors-older"));
    await waitFor(() => expect(within(screen.getByTestId("errors-list")).getAllByTestId("error-item")).toHaveLength(1));
    expect(api.calls.some((c) => c.path.includes("starting_after=jlm_19"))).toBe(true);
    expect(screen.getByTestId("errors-older")).toHaveProperty("disabled", true);
    await userEvent.click(screen.getByTestId("errors-newer"));
    await waitFor(() => expect(within(screen.getByTestId("errors-list")).getAllByTestId("error-item")).toHaveLength(20));
  });

  it("has a clear empty state for errors and checkpoints", async () => {
    baseRoutes();
    renderWithProviders(<PipelineDetailPage id={P} />, { path: `/pipelines/${P}?tab=errors` });
    expect((await screen.findByTestId("errors-empty")).textContent).toMatch(/No errors/);
    await userEvent.click(screen.getByTestId("tab-checkpoints"));
    const empty = await screen.findByTestId("checkpoints-empty");
    expect(empty.textContent).toMatch(/No checkpoints yet/);
    expect(empty.textContent).toMatch(/Change interval \(10 s\)/);
    expect(window.location.search).toBe("?tab=checkpoints");
  });

  it("lists checkpoints with duration and size and shows a chosen epoch's timeline", async () => {
    const cp = (epoch: number, start: number, ms: number) => ({
      epoch,
      backend: "parquet",
      checkpoint_type: "scheduled",
      start_time: start,
      finish_time: start + ms * 1000,
      events: [{ event: "Checkpointing", description: "The entire checkpointing process", start_time: start, finish_time: start + ms * 1000 }],
    });
    const t = now - 60_000_000;
    baseRoutes({
      [`GET /pipelines/${P}/jobs/${J}/checkpoints`]: () => ({ data: [cp(1, t, 120), cp(2, t + 10_000_000, 80)] }),
      [`GET /pipelines/${P}/jobs/${J}/checkpoints/*`]: (c) => {
        const epoch = Number(c.path.split("/")[6]);
        return {
          data: [
            {
              operator_id: "source_1",
              bytes: epoch * 2048,
              started_metadata_write: null,
              finish_time: null,
              subtasks: [0, 1].map((index) => ({
                index,
                bytes: epoch * 1024,
                event_spans: [{ event: "Sync", description: "", start_time: t + (epoch - 1) * 10_000_000, finish_time: t + (epoch - 1) * 10_000_000 + 5000 }],
              })),
            },
          ],
        };
      },
    });
    renderWithProviders(<PipelineDetailPage id={P} />, { path: `/pipelines/${P}?tab=checkpoints` });
    const list = await screen.findByTestId("checkpoints-list");
    const rows = list.querySelectorAll("tbody tr");
    expect(rows).toHaveLength(2);
    expect(rows[0].textContent).toMatch(/^2/); // newest first
    expect(rows[0].textContent).toMatch(/80 ms/);
    await waitFor(() => expect(rows[0].textContent).toMatch(/4 KiB/));
    await waitFor(() => expect(rows[1].textContent).toMatch(/2 KiB/));
    expect(screen.getByTestId("epoch-detail").textContent).toMatch(/Epoch 2/);

    await userEvent.click(rows[1]);
    await waitFor(() => expect(screen.getByTestId("epoch-detail").textContent).toMatch(/Epoch 1/));
    await waitFor(() => expect(screen.getAllByTestId("span-timeline")).toHaveLength(2));
    const rowsT = screen.getAllByTestId("timeline-row").map((r) => r.querySelector(".tl-label")?.textContent);
    expect(rowsT).toEqual(["Checkpointing", "source_1", "subtask 0", "subtask 1"]);
  });

  it("rescales through the dialog with PATCH {parallelism}", async () => {
    const api = baseRoutes({ [`PATCH /pipelines/${P}`]: () => pipeline() });
    renderWithProviders(<PipelineDetailPage id={P} />);
    await userEvent.click(await screen.findByTestId("rescale-open"));
    const dialog = screen.getByTestId("rescale-dialog");
    const input = within(dialog).getByLabelText("Parallelism");
    await userEvent.clear(input);
    await userEvent.type(input, "4");
    await userEvent.click(within(dialog).getByRole("button", { name: "Rescale" }));
    await waitFor(() => expect(api.calls.find((c) => c.method === "PATCH")?.body).toEqual({ parallelism: 4 }));
  });

  it("changes the checkpoint interval in seconds and shows the API's refusal", async () => {
    const api = baseRoutes({
      [`PATCH /pipelines/${P}`]: () => json({ error: "checkpoint_interval_micros must be between 1 second and 1 day" }, 400),
    });
    renderWithProviders(<PipelineDetailPage id={P} />);
    await userEvent.click(await screen.findByTestId("interval-open"));
    const dialog = screen.getByTestId("interval-dialog");
    const input = within(dialog).getByLabelText("Interval");
    await userEvent.clear(input);
    await userEvent.type(input, "30");
    await userEvent.click(within(dialog).getByRole("button", { name: "Save" }));
    await waitFor(() => expect(api.calls.find((c) => c.method === "PATCH")?.body).toEqual({ checkpoint_interval_micros: 30_000_000 }));
    expect(await within(dialog).findByText(/must be between 1 second and 1 day/)).toBeTruthy();
  });

  it("shows the failure reason of a failed job", async () => {
    baseRoutes({
      [`GET /pipelines/${P}/jobs`]: () => ({ data: [job({ state: "Failed", failure_reason: { error: "kafka: broker down", domain: "external" } })] }),
    });
    renderWithProviders(<PipelineDetailPage id={P} />);
    const f = await screen.findByTestId("failure-reason");
    expect(f.textContent).toMatch(/kafka: broker down/);
    expect(f.textContent).toMatch(/external error/);
  });
});
