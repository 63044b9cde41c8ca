import { afterEach, vi } from "vitest";
import { cleanup } from "@testing-library/react";
import { clearHistory } from "../lib/history";

afterEach(() => {
  cleanup();
  clearHistory();
  vi.unstubAllGlobals();
  window.history.replaceState(null, "", "/");
  localStorage.clear();
});
