import { describe, expect, it } from "vitest";
import { screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { PipelinesPage, uptimeOf } from "./PipelinesPage";
import { job, json, mockApi, pipeline, renderWithProviders, unreachable } from "../test/utils";

describe("PipelinesPage", () => {
  it("lists pipelines with their state, times and actions", async () => {
    mockApi({
      "GET /pipelines": () => ({
        data: [
          pipeline({ id: "pl_a", name: "clicks" }),
          pipeline({ id: "pl_b", name: "orders", action: "none", action_text: "Start", stop: "checkpoint" }),
          pipeline({ id: "pl_c", name: "broken", action: null, action_text: "Failed" }),
        ],
        hasMore: false,
      }),
      "GET /jobs": () => ({
        data: [
          job({ pipeline_id: "pl_a", state: "Running" }),
          job({ pipeline_id: "pl_b", state: "Stopped", start_time: null }),
          job({ pipeline_id: "pl_c", state: "Failed", failure_reason: { error: "source unreachable", domain: "external" } }),
        ],
      }),
    });
    renderWithProviders(<PipelinesPage />);
    const clicks = await screen.findByTestId("pipeline-row-clicks");
    await waitFor(() => expect(clicks.querySelector("[data-state]")?.textContent).toBe("Running"));
    expect(clicks.querySelector(".badge")?.className).toMatch(/tone-green/);
    expect(within(clicks).getByTestId("action-button").textContent).toBe("Stop");
    expect(within(clicks).getByTestId("uptime").textContent).toMatch(/^\d+ s$/);
    expect(within(clicks).getByTestId("delete-button")).toHaveProperty("disabled", true);
    expect(within(clicks).getByRole("link", { name: "clicks" }).getAttribute("href")).toBe("/pipelines/pl_a");

    const orders = screen.getByTestId("pipeline-row-orders");
    expect(orders.querySelector(".badge")?.className).toMatch(/tone-grey/);
    expect(within(orders).getByTestId("action-button").textContent).toBe("Start");
    expect(within(orders).getByTestId("delete-button")).toHaveProperty("disabled", false);

    const broken = screen.getByTestId("pipeline-row-broken");
    expect(broken.querySelector(".badge")?.className).toMatch(/tone-red/);
    expect(within(broken).getByTestId("action-button").textContent).toBe("Restart");
    expect(broken.textContent).toMatch(/source unreachable/);
  });

  it("deletes after confirmation and shows the API's refusal otherwise", async () => {
    let deleted = false;
    const api = mockApi({
      "GET /pipelines": () => ({ data: deleted ? [] : [pipeline({ id: "pl_b", name: "orders", action: "none", action_text: "Start" })], hasMore: false }),
      "GET /jobs": () => ({ data: [job({ pipeline_id: "pl_b", state: "Stopped" })] }),
      "DELETE /pipelines/pl_b": () => {
        deleted = true;
        return new Response("", { status: 200 });
      },
    });
    renderWithProviders(<PipelinesPage />);
    const row = await screen.findByTestId("pipeline-row-orders");
    await waitFor(() => expect(within(row).getByTestId("delete-button")).toHaveProperty("disabled", false));
    await userEvent.click(within(row).getByTestId("delete-button"));
    const dialog = screen.getByTestId("confirm-dialog");
    expect(dialog.textContent).toMatch(/Delete orders\?/);
    await userEvent.click(within(dialog).getByRole("button", { name: "Delete" }));
    await waitFor(() => expect(api.calls.some((c) => c.method === "DELETE" && c.path === "/pipelines/pl_b")).toBe(true));
    await screen.findByTestId("pipelines-empty");
  });

  it("keeps the dialog open with the API's message when a delete is refused", async () => {
    mockApi({
      "GET /pipelines": () => ({ data: [pipeline({ id: "pl_b", name: "orders" })], hasMore: false }),
      "GET /jobs": () => ({ data: [job({ pipeline_id: "pl_b", state: "Stopped" })] }),
      "DELETE /pipelines/pl_b": () =>
        json({ error: "Pipeline's jobs must be in a terminal state (stopped, finished, or failed) before it can be deleted" }, 400),
    });
    renderWithProviders(<PipelinesPage />);
    const row = await screen.findByTestId("pipeline-row-orders");
    await waitFor(() => expect(within(row).getByTestId("delete-button")).toHaveProperty("disabled", false));
    await userEvent.click(within(row).getByTestId("delete-button"));
    await userEvent.click(within(screen.getByTestId("confirm-dialog")).getByRole("button", { name: "Delete" }));
    expect(await screen.findByText(/must be in a terminal state/)).toBeTruthy();
    expect(screen.getByTestId("confirm-dialog")).toBeTruthy();
  });

  it("has an empty state that leads to the editor", async () => {
    mockApi({ "GET /pipelines": () => ({ data: [], hasMore: false }), "GET /jobs": () => ({ data: [] }) });
    renderWithProviders(<PipelinesPage />);
    const empty = await screen.findByTestId("pipelines-empty");
    expect(within(empty).getByRole("link", { name: /Write your first pipeline/ }).getAttribute("href")).toBe("/pipelines/new");
  });

  it("says so when the API is unreachable", async () => {
    mockApi({ "GET /pipelines": unreachable, "GET /jobs": unreachable });
    renderWithProviders(<PipelinesPage />);
    expect((await screen.findByTestId("error-unreachable")).textContent).toMatch(/Can't reach the Runnel API/);
  });

  it("shows any other API error's message", async () => {
    mockApi({ "GET /pipelines": () => json({ error: "Something went wrong" }, 500), "GET /jobs": () => ({ data: [] }) });
    renderWithProviders(<PipelinesPage />);
    expect((await screen.findByTestId("error-api")).textContent).toMatch(/Something went wrong/);
  });

  it("pages through older pipelines with the cursor", async () => {
    const api = mockApi({
      "GET /pipelines": (c) =>
        c.path.includes("starting_after=pl_a")
          ? { data: [pipeline({ id: "pl_z", name: "older" })], hasMore: false }
          : { data: [pipeline({ id: "pl_a", name: "newer" })], hasMore: true },
      "GET /jobs": () => ({ data: [] }),
    });
    renderWithProviders(<PipelinesPage />);
    await screen.findByTestId("pipeline-row-newer");
    await userEvent.click(screen.getByRole("button", { name: "Older" }));
    await screen.findByTestId("pipeline-row-older");
    expect(api.calls.some((c) => c.path === "/pipelines?limit=25&starting_after=pl_a")).toBe(true);
  });
});

describe("uptimeOf", () => {
  it("counts from start_time while the job runs, and shows none when it has stopped", () => {
    const now = Date.now();
    expect(uptimeOf(job({ start_time: (now - 125_000) * 1000 }), now).text).toBe("2 min 5 s");
    expect(uptimeOf(job({ state: "Stopped", start_time: (now - 5000) * 1000, finish_time: now * 1000 }), now)).toMatchObject({
      text: "—",
      title: expect.stringMatching(/^Ran for 5 s, until /),
    });
    expect(uptimeOf(undefined, now).text).toBe("—");
  });
});
