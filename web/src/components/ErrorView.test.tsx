import { describe, expect, it, vi } from "vitest";
import { screen } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { ErrorBoundary, ErrorView } from "./ErrorView";
import { ApiError, request } from "../api/client";
import { json, mockApi, renderWithProviders, unreachable } from "../test/utils";

describe("ErrorView", () => {
  it("explains an unreachable API and offers a retry", async () => {
    const retry = vi.fn();
    renderWithProviders(<ErrorView error={new ApiError(0, "The Runnel API could not be reached", "/pipelines")} what="pipelines" onRetry={retry} />);
    expect(screen.getByTestId("error-unreachable").textContent).toMatch(/Can't reach the Runnel API/);
    expect(screen.getByText(/could not load the pipelines/)).toBeTruthy();
    await userEvent.click(screen.getByRole("button", { name: /Try again/ }));
    expect(retry).toHaveBeenCalledOnce();
  });

  it("treats a gateway error as unreachable", () => {
    renderWithProviders(<ErrorView error={new ApiError(502, "Bad gateway", "/x")} what="pipeline" />);
    expect(screen.getByTestId("error-unreachable").textContent).toMatch(/HTTP 502/);
  });

  it("shows the API's not-found message with a way back", () => {
    renderWithProviders(<ErrorView error={new ApiError(404, "Pipeline not found", "/pipelines/x")} what="pipeline" />);
    expect(screen.getByRole("heading").textContent).toBe("Pipeline not found");
    expect(screen.getByRole("link", { name: "All pipelines" }).getAttribute("href")).toBe("/pipelines");
  });

  it("shows any other API error's status and its `error` message verbatim", () => {
    renderWithProviders(<ErrorView error={new ApiError(500, "Something went wrong", "/x")} what="errors" />);
    const v = screen.getByTestId("error-api");
    expect(v.textContent).toMatch(/Couldn't load the errors/);
    expect(v.textContent).toMatch(/HTTP 500/);
    expect(v.textContent).toMatch(/Something went wrong/);
  });

  it("is what request() failures turn into", async () => {
    mockApi({
      "GET /a": () => json({ error: "Limit must be greater than 0" }, 400),
      "GET /b": () => new Response("<html>proxy</html>", { status: 503, statusText: "Service Unavailable" }),
      "GET /c": unreachable,
    });
    await expect(request("/a")).rejects.toMatchObject({ status: 400, message: "Limit must be greater than 0" });
    await expect(request("/b")).rejects.toMatchObject({ status: 503, message: "The API answered 503 Service Unavailable without an error message" });
    await expect(request("/c")).rejects.toMatchObject({ status: 0, unreachable: true });
  });
});

describe("ErrorBoundary", () => {
  it("replaces a crashed page with an error view instead of a blank screen", () => {
    vi.spyOn(console, "error").mockImplementation(() => {});
    const Boom = () => {
      throw new Error("kaboom");
    };
    renderWithProviders(
      <ErrorBoundary>
        <Boom />
      </ErrorBoundary>,
    );
    expect(screen.getByText("Something went wrong in the console")).toBeTruthy();
    expect(screen.getByText("kaboom")).toBeTruthy();
  });
});
