import { afterEach, vi } from "vitest";
import { cleanup, configure } from "@testing-library/react";
import { clearHistory } from "../lib/history";

// findBy*/waitFor give up after 1 s by default: too tight on a busy machine.
configure({ asyncUtilTimeout: 4000 });

afterEach(() => {
  cleanup();
  clearHistory();
  vi.unstubAllGlobals();
  window.history.replaceState(null, "", "/");
  localStorage.clear();
});
