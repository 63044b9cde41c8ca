// What the action button of a pipeline shows and does, from the API's
// action / action_text / action_in_progress and the job's state (as
// lifecycle.md §2.3 describes the reference console's behaviour).
import type { Pipeline, StopMode } from "../api/types";

export interface Confirmation {
  title: string;
  body: string;
  confirmLabel: string;
  danger: boolean;
}

export interface ActionPlan {
  label: string;
  enabled: boolean;
  spinner: boolean;
  /** patch: PATCH {stop}; restart: POST …/restart {}; none: nothing to do. */
  kind: "patch" | "restart" | "none";
  stop?: StopMode;
  confirm?: Confirmation;
  /** A tooltip for why the button is disabled or what it does. */
  hint: string;
}

type ActionFields = Pick<Pipeline, "name" | "action" | "action_text" | "action_in_progress">;

export function planAction(p: ActionFields, state: string | undefined): ActionPlan {
  const name = p.name;
  if (state === "Failed") {
    return {
      label: "Restart",
      enabled: true,
      spinner: false,
      kind: "restart",
      hint: "Restart the failed job",
      confirm: {
        title: `Restart ${name}?`,
        body: "The job is started again and resumes from its latest checkpoint, if it has one.",
        confirmLabel: "Restart",
        danger: false,
      },
    };
  }
  if (state === "Stopped" && p.action !== null) {
    return {
      label: "Start",
      enabled: true,
      spinner: false,
      kind: "patch",
      stop: p.action,
      hint: "Start the job again",
      confirm: startConfirm(name),
    };
  }
  if (p.action === null) {
    return {
      label: p.action_text || "—",
      enabled: false,
      spinner: p.action_in_progress,
      kind: "none",
      hint: p.action_in_progress ? `${p.action_text}…` : "Nothing to do in this state",
    };
  }
  return {
    label: p.action_text || actionVerb(p.action),
    enabled: true,
    spinner: p.action_in_progress,
    kind: "patch",
    stop: p.action,
    hint: hintFor(p.action),
    confirm: confirmFor(p.action, name),
  };
}

function actionVerb(stop: StopMode): string {
  return stop === "none" ? "Start" : stop === "immediate" || stop === "force" ? "Force stop" : "Stop";
}

function hintFor(stop: StopMode): string {
  switch (stop) {
    case "none":
      return "Start the job";
    case "checkpoint":
      return "Take a final checkpoint, then stop";
    case "graceful":
      return "Stop the sources and let in-flight data drain";
    case "immediate":
    case "force":
      return "Cancel every task now, without a final checkpoint";
  }
}

function startConfirm(name: string): Confirmation {
  return {
    title: `Start ${name}?`,
    body: "The job is scheduled again and resumes from its latest checkpoint, if it has one.",
    confirmLabel: "Start",
    danger: false,
  };
}

function confirmFor(stop: StopMode, name: string): Confirmation {
  switch (stop) {
    case "none":
      return startConfirm(name);
    case "checkpoint":
      return {
        title: `Stop ${name}?`,
        body: "Runnel takes a final checkpoint, then stops the job. You can start it again later and it resumes from that checkpoint.",
        confirmLabel: "Stop",
        danger: true,
      };
    case "graceful":
      return {
        title: `Stop ${name}?`,
        body: "The sources stop and in-flight data drains through the sinks.",
        confirmLabel: "Stop",
        danger: true,
      };
    case "immediate":
    case "force":
      return {
        title: `Force stop ${name}?`,
        body: "Every task is cancelled now, without waiting for a final checkpoint. Data processed since the last checkpoint will be processed again on the next start.",
        confirmLabel: "Force stop",
        danger: true,
      };
  }
}
