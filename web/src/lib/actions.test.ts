import { describe, expect, it } from "vitest";
import { planAction } from "./actions";
import type { StopMode } from "../api/types";

// lifecycle.md §2.3: state × running_desired → (action_text, action, action_in_progress).
type Row = [string, [string, StopMode | null, boolean], [string, StopMode | null, boolean]];
const table: Row[] = [
  ["Created", ["Stop", "checkpoint", true], ["Start", "none", false]],
  ["Compiling", ["Stop", "checkpoint", true], ["Stopping", null, true]],
  ["Scheduling", ["Stop", "checkpoint", true], ["Stopping", null, true]],
  ["Running", ["Stop", "checkpoint", false], ["Stopping", null, true]],
  ["Rescaling", ["Stop", "checkpoint", true], ["Stopping", null, true]],
  ["CheckpointStopping", ["Force Stop", "immediate", true], ["Force Stop", "immediate", true]],
  ["Recovering", ["Stop", "checkpoint", true], ["Stopping", null, true]],
  ["Restarting", ["Stop", "checkpoint", true], ["Stopping", null, true]],
  ["Stopping", ["Stopping", "checkpoint", true], ["Stopping", null, true]],
  ["Stopped", ["Starting", null, true], ["Start", "none", false]],
  ["Finishing", ["Finishing", null, true], ["Finishing", null, true]],
  ["Finished", ["Finished", null, false], ["Finished", null, false]],
  ["Failed", ["Failed", null, false], ["Start", "none", false]],
  ["Failing", ["Failing", null, true], ["Failing", null, true]],
];

const fields = ([text, action, inProgress]: [string, StopMode | null, boolean]) => ({
  name: "p",
  action_text: text,
  action,
  action_in_progress: inProgress,
});

describe("planAction", () => {
  for (const [state, running, stopped] of table) {
    for (const [desired, api] of [
      ["running", running],
      ["stopped", stopped],
    ] as const) {
      it(`${state}, ${desired} desired`, () => {
        const plan = planAction(fields(api), state);
        if (state === "Failed") {
          // A failed job is restarted through POST …/restart {}.
          expect(plan).toMatchObject({ label: "Restart", kind: "restart", enabled: true, spinner: false });
          expect(plan.confirm?.confirmLabel).toBe("Restart");
          return;
        }
        if (state === "Stopped" && api[1] !== null) {
          expect(plan).toMatchObject({ label: "Start", kind: "patch", stop: "none", enabled: true, spinner: false });
          return;
        }
        expect(plan.label).toBe(api[0]);
        expect(plan.enabled).toBe(api[1] !== null);
        expect(plan.spinner).toBe(api[2]);
        expect(plan.kind).toBe(api[1] === null ? "none" : "patch");
        if (api[1] !== null) {
          expect(plan.stop).toBe(api[1]);
          expect(plan.confirm).toBeDefined();
        }
      });
    }
  }

  it("asks before a force stop and says what it costs", () => {
    const plan = planAction(fields(["Force Stop", "immediate", true]), "CheckpointStopping");
    expect(plan.confirm?.danger).toBe(true);
    expect(plan.confirm?.title).toMatch(/Force stop p/);
    expect(plan.confirm?.body).toMatch(/without waiting for a final checkpoint/);
  });

  it("handles an unknown state without throwing", () => {
    const plan = planAction(fields(["", null, false]), "SomethingNew");
    expect(plan).toMatchObject({ label: "—", enabled: false, kind: "none" });
  });

  it("uses the API's label when there is no job state yet", () => {
    expect(planAction(fields(["Stop", "checkpoint", true]), undefined)).toMatchObject({ label: "Stop", spinner: true, enabled: true });
  });
});
