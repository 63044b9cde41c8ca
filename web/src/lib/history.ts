// What the console has seen happen to each job while it was open: state
// changes observed by polling and the actions the user took. The API has
// no state history, so this is per browser tab.

export type HistoryEvent =
  | { kind: "state"; state: string; at: number }
  | { kind: "action"; label: string; at: number };

const logs = new Map<string, HistoryEvent[]>();
const listeners = new Set<() => void>();
const MAX = 200;

export function recordEvent(jobId: string, ev: HistoryEvent) {
  const log = logs.get(jobId) ?? [];
  if (ev.kind === "state") {
    let lastState: string | undefined;
    for (let i = log.length - 1; i >= 0; i--) {
      const e = log[i];
      if (e.kind === "state") {
        lastState = e.state;
        break;
      }
    }
    if (lastState === ev.state) return;
  }
  const next = [...log, ev].slice(-MAX);
  logs.set(jobId, next);
  listeners.forEach((l) => l());
}

export function historyOf(jobId: string): HistoryEvent[] {
  return logs.get(jobId) ?? [];
}

export function subscribeHistory(l: () => void): () => void {
  listeners.add(l);
  return () => listeners.delete(l);
}

export function clearHistory() {
  logs.clear();
  listeners.forEach((l) => l());
}
