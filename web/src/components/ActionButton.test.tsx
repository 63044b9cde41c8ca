import { describe, expect, it } from "vitest";
import { screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { ActionButton } from "./ActionButton";
import { json, mockApi, pipeline, renderWithProviders } from "../test/utils";

describe("ActionButton", () => {
  it("stops a running pipeline after confirmation with PATCH {stop: checkpoint}", async () => {
    const api = mockApi({
      "PATCH /pipelines/pl_test000001": () => pipeline({ action: null, action_text: "Stopping", action_in_progress: true, stop: "checkpoint" }),
      "GET *": () => ({ data: [], hasMore: false }),
    });
    renderWithProviders(<ActionButton pipeline={pipeline()} state="Running" />);
    const btn = screen.getByTestId("action-button");
    expect(btn).toHaveProperty("textContent", "Stop");
    expect(btn).toHaveProperty("disabled", false);
    expect(screen.queryByRole("status")).toBeNull(); // no spinner while Running

    await userEvent.click(btn);
    const dialog = screen.getByTestId("confirm-dialog");
    expect(dialog.textContent).toMatch(/Stop orders\?/);
    expect(dialog.textContent).toMatch(/final checkpoint/);
    expect(api.calls.filter((c) => c.method === "PATCH")).toHaveLength(0); // nothing before confirming

    await userEvent.click(within(screen.getByTestId("confirm-dialog")).getByRole("button", { name: "Stop" }));
    await waitFor(() => expect(api.calls.some((c) => c.method === "PATCH")).toBe(true));
    expect(api.calls.find((c) => c.method === "PATCH")).toEqual({ method: "PATCH", path: "/pipelines/pl_test000001", body: { stop: "checkpoint" } });
    await waitFor(() => expect(screen.queryByTestId("confirm-dialog")).toBeNull());
  });

  it("cancelling the confirmation sends nothing", async () => {
    const api = mockApi({});
    renderWithProviders(<ActionButton pipeline={pipeline()} state="Running" />);
    await userEvent.click(screen.getByTestId("action-button"));
    await userEvent.click(screen.getByRole("button", { name: "Cancel" }));
    expect(screen.queryByTestId("confirm-dialog")).toBeNull();
    expect(api.calls).toHaveLength(0);
  });

  it("restarts a failed pipeline with POST …/restart {}", async () => {
    const api = mockApi({
      "POST /pipelines/pl_test000001/restart": () => pipeline(),
      "GET *": () => ({ data: [], hasMore: false }),
    });
    renderWithProviders(
      <ActionButton pipeline={pipeline({ action: null, action_text: "Failed", action_in_progress: false })} state="Failed" />,
    );
    const btn = screen.getByTestId("action-button");
    expect(btn.textContent).toBe("Restart");
    await userEvent.click(btn);
    await userEvent.click(within(screen.getByTestId("confirm-dialog")).getByRole("button", { name: "Restart" }));
    await waitFor(() => expect(api.calls.find((c) => c.method === "POST")).toEqual({ method: "POST", path: "/pipelines/pl_test000001/restart", body: {} }));
  });

  it("starts a stopped pipeline with PATCH {stop: none}", async () => {
    const api = mockApi({
      "PATCH /pipelines/pl_test000001": () => pipeline(),
      "GET *": () => ({ data: [], hasMore: false }),
    });
    renderWithProviders(<ActionButton pipeline={pipeline({ action: "none", action_text: "Start", stop: "checkpoint" })} state="Stopped" />);
    await userEvent.click(screen.getByTestId("action-button"));
    await userEvent.click(within(screen.getByTestId("confirm-dialog")).getByRole("button", { name: "Start" }));
    await waitFor(() => expect(api.calls.find((c) => c.method === "PATCH")?.body).toEqual({ stop: "none" }));
  });

  it("is disabled with a spinner while stopping", () => {
    mockApi({});
    renderWithProviders(<ActionButton pipeline={pipeline({ action: null, action_text: "Stopping", action_in_progress: true })} state="Running" />);
    const btn = screen.getByTestId("action-button");
    expect(btn.textContent).toBe("Stopping");
    expect(btn).toHaveProperty("disabled", true);
    expect(screen.getByRole("status", { name: /Stopping in progress/ })).toBeTruthy();
  });

  it("shows a spinner but stays clickable while a stop can still be forced", () => {
    mockApi({});
    renderWithProviders(
      <ActionButton pipeline={pipeline({ action: "immediate", action_text: "Force Stop", action_in_progress: true })} state="CheckpointStopping" />,
    );
    const btn = screen.getByTestId("action-button");
    expect(btn.textContent).toBe("Force Stop");
    expect(btn).toHaveProperty("disabled", false);
    expect(screen.getByRole("status")).toBeTruthy();
  });

  it("shows the API's error message when the action fails", async () => {
    mockApi({ "PATCH /pipelines/pl_test000001": () => json({ error: "Job for pipeline not found" }, 404) });
    renderWithProviders(<ActionButton pipeline={pipeline()} state="Running" />);
    await userEvent.click(screen.getByTestId("action-button"));
    await userEvent.click(within(screen.getByTestId("confirm-dialog")).getByRole("button", { name: "Stop" }));
    const alert = await screen.findByText("Job for pipeline not found");
    expect(alert).toBeTruthy();
    expect(screen.getByText("Couldn't stop orders")).toBeTruthy();
  });
});
