// Job states: their colour family and a sentence for people.
import type { JobState } from "../api/types";

export type Tone = "green" | "blue" | "amber" | "red" | "grey" | "violet";

const tones: Record<JobState, Tone> = {
  Created: "blue",
  Compiling: "blue",
  Scheduling: "blue",
  Running: "green",
  Rescaling: "violet",
  Recovering: "amber",
  Restarting: "amber",
  CheckpointStopping: "amber",
  Stopping: "amber",
  Stopped: "grey",
  Finishing: "blue",
  Finished: "grey",
  Failing: "red",
  Failed: "red",
};

export function stateTone(state: string | undefined | null): Tone {
  return (state && tones[state as JobState]) || "grey";
}

/** States in which something is changing, shown with a pulse. */
export function isTransitional(state: string | undefined | null): boolean {
  return [
    "Created",
    "Compiling",
    "Scheduling",
    "Rescaling",
    "Recovering",
    "Restarting",
    "CheckpointStopping",
    "Stopping",
    "Finishing",
    "Failing",
  ].includes(state ?? "");
}

/** Stopped, Finished and Failed: the job runs nothing and may be deleted. */
export function isTerminal(state: string | undefined | null): boolean {
  return state === "Stopped" || state === "Finished" || state === "Failed";
}

const descriptions: Record<JobState, string> = {
  Created: "Waiting for the controller",
  Compiling: "Planning the query",
  Scheduling: "Starting tasks",
  Running: "Processing data",
  Rescaling: "Changing parallelism",
  Recovering: "Recovering from a failure",
  Restarting: "Restarting",
  CheckpointStopping: "Final checkpoint, then stop",
  Stopping: "Stopping",
  Stopped: "Can be started again",
  Finishing: "Draining after input ended",
  Finished: "All input processed",
  Failing: "Stopping after a failure",
  Failed: "See the failure reason",
};

export function stateDescription(state: string | undefined | null): string {
  return (state && descriptions[state as JobState]) || "Unknown state";
}
