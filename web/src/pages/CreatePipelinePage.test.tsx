import { describe, expect, it } from "vitest";
import { screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import CreatePipelinePage from "./CreatePipelinePage";
import { mockApi, pipeline, renderWithProviders, json } from "../test/utils";

const BAD = "SELECT countr FROM impulse;";

describe("CreatePipelinePage", () => {
  it("validates the query and underlines errors at their line and column", async () => {
    localStorage.setItem("runnel.console.draft", BAD);
    mockApi({
      "POST /pipelines/validate_query": (c) =>
        (c.body as { query: string }).query === BAD
          ? {
              graph: null,
              errors: [{ message: "unknown column 'countr'", span: { start: { line: 1, column: 8 }, end: { line: 1, column: 14 } } }],
            }
          : { graph: pipeline().graph, errors: [] },
    });
    renderWithProviders(<CreatePipelinePage />, { path: "/pipelines/new" });
    await waitFor(() => expect(screen.getByTestId("validity").dataset.status).toBe("invalid"), { timeout: 3000 });
    expect(screen.getByTestId("diagnostics").textContent).toMatch(/Line 1, col 8unknown column 'countr'/);
    await waitFor(() => expect(document.querySelector(".cm-lintRange-error")?.textContent).toBe("countr"));

    // An example replaces the text; it is valid and its plan is drawn.
    await userEvent.selectOptions(screen.getByLabelText("Insert an example query"), "1");
    await waitFor(() => expect(screen.getByTestId("validity").dataset.status).toBe("valid"), { timeout: 3000 });
    expect(document.querySelector(".cm-lintRange-error")).toBeNull();
    expect(await screen.findByTestId("graph-node-1")).toBeTruthy();
  });

  it("launches with name, parallelism and checkpoint interval", async () => {
    localStorage.setItem("runnel.console.draft", "SELECT 1");
    const api = mockApi({
      "POST /pipelines/validate_query": () => ({ graph: pipeline().graph, errors: [] }),
      "POST /pipelines": (c) =>
        (c.body as { name: string }).name === "taken" ? json({ error: "A record already exists with that name or id" }, 400) : pipeline({ id: "pl_new" }),
      "GET *": () => ({ data: [] }),
    });
    renderWithProviders(<CreatePipelinePage />, { path: "/pipelines/new" });
    await userEvent.click(screen.getByTestId("launch-button"));
    const dialog = screen.getByTestId("launch-dialog");
    await userEvent.type(within(dialog).getByLabelText("Name"), "taken");
    await userEvent.clear(within(dialog).getByLabelText("Parallelism"));
    await userEvent.type(within(dialog).getByLabelText("Parallelism"), "3");
    await userEvent.clear(within(dialog).getByLabelText("Checkpoint interval"));
    await userEvent.type(within(dialog).getByLabelText("Checkpoint interval"), "30");
    await userEvent.click(screen.getByTestId("launch-submit"));
    expect(await within(dialog).findByText(/A record already exists/, {}, { timeout: 5000 })).toBeTruthy();

    await userEvent.clear(within(dialog).getByLabelText("Name"));
    await userEvent.type(within(dialog).getByLabelText("Name"), "clicks");
    await userEvent.click(screen.getByTestId("launch-submit"));
    await waitFor(() => expect(window.location.pathname).toBe("/pipelines/pl_new"), { timeout: 5000 });
    expect(api.calls.filter((c) => c.method === "POST" && c.path === "/pipelines").at(-1)?.body).toEqual({
      name: "clicks",
      query: "SELECT 1",
      parallelism: 3,
      checkpoint_interval_micros: 30_000_000,
    });
  });

  it("refuses an interval outside 1 s to 1 day before asking the API", async () => {
    localStorage.setItem("runnel.console.draft", "SELECT 1");
    mockApi({ "POST /pipelines/validate_query": () => ({ graph: pipeline().graph, errors: [] }) });
    renderWithProviders(<CreatePipelinePage />, { path: "/pipelines/new" });
    await userEvent.click(screen.getByTestId("launch-button"));
    const dialog = screen.getByTestId("launch-dialog");
    await userEvent.clear(within(dialog).getByLabelText("Checkpoint interval"));
    await userEvent.type(within(dialog).getByLabelText("Checkpoint interval"), "0.5");
    expect(within(dialog).getByText(/Between 1 second and 1 day/)).toBeTruthy();
  });
});
