import { describe, expect, it, vi } from "vitest";
import { act, screen, waitFor } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { OutputTable } from "./OutputTable";
import { usePreview } from "../lib/usePreview";
import { json, mockApi, pipeline, job, renderWithProviders, sseResponse } from "../test/utils";
import type { OutputRow } from "../api/sse";

const row = (id: number, values: Record<string, unknown>): OutputRow => ({ id, time: 1_700_000_000_000 + id, subtask: 0, values });

function rowsText() {
  return [...document.querySelectorAll("[data-testid=output-table] tbody tr")].map((tr) =>
    [...tr.querySelectorAll("td")].slice(2, -1).map((td) => td.textContent).join(","),
  );
}

describe("OutputTable", () => {
  it("shows the columns of the rows, a row count and nulls", () => {
    renderWithProviders(<OutputTable rows={[row(0, { a: 1, b: "x" }), row(1, { a: 2, b: null })]} total={2} onClear={() => {}} />);
    const heads = [...document.querySelectorAll("[data-testid=output-table] thead th")].map((th) => th.textContent);
    expect(heads).toEqual(["#", "event time", "a", "b", ""]);
    expect(rowsText()).toEqual(["1,x", "2,null"]);
    expect(screen.getByTestId("row-count").textContent).toBe("2 rows");
  });

  it("freezes the table while paused and counts what arrives meanwhile", async () => {
    const { rerender } = renderWithProviders(<OutputTable rows={[row(0, { a: 1 })]} total={1} onClear={() => {}} />);
    await userEvent.click(screen.getByTestId("pause-button"));
    expect(screen.getByTestId("pause-button").textContent).toBe("Resume");
    rerender(<OutputTable rows={[row(0, { a: 1 }), row(1, { a: 2 }), row(2, { a: 3 })]} total={3} onClear={() => {}} />);
    expect(rowsText()).toEqual(["1"]);
    expect(screen.getByTestId("row-count").textContent).toBe("3 rows · 2 new while paused");
    await userEvent.click(screen.getByTestId("pause-button"));
    expect(rowsText()).toEqual(["1", "2", "3"]);
  });

  it("clears through its callback", async () => {
    const onClear = vi.fn();
    renderWithProviders(<OutputTable rows={[row(0, { a: 1 })]} total={1} onClear={onClear} />);
    await userEvent.click(screen.getByTestId("clear-button"));
    expect(onClear).toHaveBeenCalledOnce();
  });

  it("keeps the newest row in view while auto-scroll is on", () => {
    const many = Array.from({ length: 50 }, (_, i) => row(i, { a: i }));
    const { rerender } = renderWithProviders(<OutputTable rows={many.slice(0, 10)} total={10} onClear={() => {}} />);
    const scroller = document.querySelector<HTMLElement>(".output-scroll")!;
    Object.defineProperty(scroller, "scrollHeight", { configurable: true, get: () => 1234 });
    rerender(<OutputTable rows={many} total={50} onClear={() => {}} />);
    expect(scroller.scrollTop).toBe(1234);
  });
});

function PreviewHarness({ query }: { query: string }) {
  const p = usePreview();
  return (
    <>
      <button onClick={() => void p.start(query)}>go</button>
      <button onClick={p.stop}>stop</button>
      <span data-testid="phase">{p.state.phase}</span>
      <span data-testid="err">{p.state.error ?? ""}</span>
      <OutputTable rows={p.state.rows} total={p.state.total} onClear={p.clear} />
    </>
  );
}

const event = (startId: number, counters: number[]) =>
  `id: ${startId}\ndata: ${JSON.stringify({
    operator_id: "sink_preview_3",
    subtask_idx: 0,
    timestamps: counters.map((_, i) => 1_700_000_000_000_000 + (startId + i) * 100_000),
    start_id: startId,
    batch: JSON.stringify(counters.map((c) => ({ counter: c, bucket: c % 3 }))),
  })}\n\n`;

describe("preview: SSE into the table", () => {
  it("creates a preview, waits for Running, streams rows and ends at `done`", async () => {
    let jobPolls = 0;
    const api = mockApi({
      "POST /pipelines/preview": () => pipeline({ id: "pl_prev", preview: true }),
      "GET /pipelines/pl_prev/jobs": () => ({ data: [job({ id: "job_prev", pipeline_id: "pl_prev", state: jobPolls++ < 1 ? "Scheduling" : "Running" })] }),
      "GET /pipelines/pl_prev/jobs/job_prev/output": () =>
        sseResponse([event(0, [0, 2]), ": keep-alive\n\n", event(2, [4]), event(3, [6, 8, 10]), 'event: done\ndata: {"dropped":0}\n\n']),
    });
    renderWithProviders(<PreviewHarness query="SELECT 1" />);
    await userEvent.click(screen.getByText("go"));
    await waitFor(() => expect(screen.getByTestId("phase").textContent).toBe("done"), { timeout: 4000 });
    expect(api.calls[0]).toEqual({ method: "POST", path: "/pipelines/preview", body: { query: "SELECT 1" } });
    expect(rowsText()).toEqual(["0,0", "2,2", "4,1", "6,0", "8,2", "10,1"]);
    expect(screen.getByTestId("row-count").textContent).toBe("6 rows");
    const ids = [...document.querySelectorAll("[data-testid=output-table] tbody tr td:first-child")].map((td) => td.textContent);
    expect(ids).toEqual(["0", "1", "2", "3", "4", "5"]);

    await userEvent.click(screen.getByTestId("clear-button"));
    expect(screen.getByTestId("row-count").textContent).toBe("0 rows");
  });

  it("retries the stream while the API says the job is not running yet", async () => {
    let outputCalls = 0;
    mockApi({
      "POST /pipelines/preview": () => pipeline({ id: "pl_prev", preview: true }),
      "GET /pipelines/pl_prev/jobs": () => ({ data: [job({ id: "job_prev", pipeline_id: "pl_prev", state: "Running" })] }),
      "GET /pipelines/pl_prev/jobs/job_prev/output": () =>
        outputCalls++ === 0 ? json({ error: "Job must be running to read output" }, 400) : sseResponse([event(0, [7]), "event: done\ndata: {}\n\n"]),
    });
    renderWithProviders(<PreviewHarness query="SELECT 1" />);
    await userEvent.click(screen.getByText("go"));
    await waitFor(() => expect(screen.getByTestId("phase").textContent).toBe("done"), { timeout: 4000 });
    expect(outputCalls).toBe(2);
    expect(rowsText()).toEqual(["7,1"]);
  });

  it("shows the API's message when the preview cannot be created", async () => {
    mockApi({ "POST /pipelines/preview": () => json({ error: "Failed to plan query:\n * unknown column 'x'" }, 400) });
    renderWithProviders(<PreviewHarness query="SELECT x" />);
    await userEvent.click(screen.getByText("go"));
    await waitFor(() => expect(screen.getByTestId("phase").textContent).toBe("failed"));
    expect(screen.getByTestId("err").textContent).toBe("Failed to plan query:\n * unknown column 'x'");
  });

  it("reports the job's failure reason when the preview fails", async () => {
    mockApi({
      "POST /pipelines/preview": () => pipeline({ id: "pl_prev", preview: true }),
      "GET /pipelines/pl_prev/jobs": () => ({
        data: [job({ id: "job_prev", pipeline_id: "pl_prev", state: "Failed", failure_reason: { error: "division by zero", domain: "user" } })],
      }),
    });
    renderWithProviders(<PreviewHarness query="SELECT 1/0" />);
    await userEvent.click(screen.getByText("go"));
    await waitFor(() => expect(screen.getByTestId("phase").textContent).toBe("failed"));
    expect(screen.getByTestId("err").textContent).toBe("division by zero");
  });

  it("stopping sends an immediate stop to the preview pipeline", async () => {
    let release: () => void = () => {};
    const api = mockApi({
      "POST /pipelines/preview": () => pipeline({ id: "pl_prev", preview: true }),
      "GET /pipelines/pl_prev/jobs": () => ({ data: [job({ id: "job_prev", pipeline_id: "pl_prev", state: "Running" })] }),
      "GET /pipelines/pl_prev/jobs/job_prev/output": () =>
        new Response(
          new ReadableStream({
            start(ctl) {
              ctl.enqueue(new TextEncoder().encode(event(0, [1])));
              release = () => {
                ctl.enqueue(new TextEncoder().encode("event: done\ndata: {}\n\n"));
                ctl.close();
              };
            },
          }),
          { headers: { "Content-Type": "text/event-stream" } },
        ),
      "PATCH /pipelines/pl_prev": () => {
        setTimeout(() => release(), 10);
        return pipeline({ id: "pl_prev" });
      },
    });
    renderWithProviders(<PreviewHarness query="SELECT 1" />);
    await userEvent.click(screen.getByText("go"));
    await waitFor(() => expect(rowsText()).toEqual(["1,1"]));
    await act(async () => {
      screen.getByText("stop").click();
    });
    await waitFor(() => expect(screen.getByTestId("phase").textContent).toBe("done"));
    expect(api.calls.find((c) => c.method === "PATCH")).toEqual({ method: "PATCH", path: "/pipelines/pl_prev", body: { stop: "immediate" } });
  });
});
