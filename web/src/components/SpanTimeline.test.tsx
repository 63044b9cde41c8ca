import { describe, expect, it } from "vitest";
import { render, screen } from "@testing-library/react";
import { SpanTimeline, spanColor } from "./SpanTimeline";
import { operatorRows } from "./detail/CheckpointsTab";
import type { OperatorCheckpointGroup } from "../api/types";

const T0 = 1_800_000_000_000_000; // µs
const span = (event: string, from: number, to: number) => ({
  event,
  description: `${event} phase`,
  start_time: T0 + from * 1000,
  finish_time: to < 0 ? 0 : T0 + to * 1000,
});

const groups: OperatorCheckpointGroup[] = [
  {
    operator_id: "source_1",
    bytes: 3072,
    started_metadata_write: null,
    finish_time: T0 + 100_000,
    subtasks: [
      { index: 0, bytes: 1024, event_spans: [span("Alignment", 0, 10), span("Sync", 10, 30), span("Async", 30, 80)] },
      { index: 1, bytes: 2048, event_spans: [span("Sync", 20, 40), span("Async", 40, -1)] },
    ],
  },
];

describe("SpanTimeline", () => {
  it("places each span by its start and duration within the range", () => {
    render(<SpanTimeline rows={operatorRows(groups)} start={T0} end={T0 + 100_000} showBytes />);
    const rows = screen.getAllByTestId("timeline-row");
    expect(rows.map((r) => r.querySelector(".tl-label")?.textContent)).toEqual(["source_1", "subtask 0", "subtask 1"]);

    const sub0 = rows[1].querySelectorAll<HTMLElement>(".tl-span");
    expect([...sub0].map((s) => s.dataset.event)).toEqual(["Alignment", "Sync", "Async"]);
    expect(sub0[1].style.left).toBe("10%");
    expect(sub0[1].style.width).toBe("20%");
    expect(sub0[2].style.left).toBe("30%");
    expect(sub0[2].style.width).toBe("50%");
    expect(sub0[1].title).toBe("Sync: 20 ms — Sync phase");
    expect(sub0[0].style.background).toBe(spanColor("Alignment"));
  });

  it("draws an unfinished span up to now, hatched", () => {
    render(<SpanTimeline rows={operatorRows(groups)} start={T0} end={T0 + 100_000} now={T0 + 60_000} />);
    const open = screen.getAllByTestId("timeline-row")[2].querySelector<HTMLElement>('.tl-span[data-event="Async"]')!;
    expect(open.classList.contains("open")).toBe(true);
    expect(open.style.left).toBe("40%");
    expect(open.style.width).toBe("20%");
    expect(open.title).toMatch(/20 ms so far/);
  });

  it("shows bytes per operator and per subtask with units", () => {
    render(<SpanTimeline rows={operatorRows(groups)} start={T0} end={T0 + 100_000} showBytes />);
    const bytes = screen.getAllByTestId("timeline-row").map((r) => r.querySelector(".tl-bytes")?.textContent);
    expect(bytes).toEqual(["3 KiB", "1 KiB", "2 KiB"]);
  });

  it("labels the time axis in milliseconds and lists the phases in a legend", () => {
    render(<SpanTimeline rows={operatorRows(groups)} start={T0} end={T0 + 100_000} />);
    const axis = screen.getByTestId("span-timeline").querySelector(".tl-axis")!;
    expect([...axis.querySelectorAll("span")].map((s) => s.textContent)).toEqual(["0 ms", "25 ms", "50 ms", "75 ms", "100 ms"]);
    const legend = screen.getByTestId("span-timeline").querySelector(".legend")!;
    expect(legend.textContent).toBe("AlignmentSyncAsync");
  });
});
