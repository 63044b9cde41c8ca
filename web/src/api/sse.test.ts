import { describe, expect, it, vi } from "vitest";
import { readOutput, rowsOf, SseParser } from "./sse";
import { sseResponse, json } from "../test/utils";
import { ApiError } from "./client";

const data = (startId: number, rows: object[], ts = 1_700_000_000_000_000) =>
  JSON.stringify({
    operator_id: "sink_preview_3",
    subtask_idx: 0,
    timestamps: rows.map((_, i) => ts + i * 1000),
    start_id: startId,
    batch: JSON.stringify(rows),
  });

describe("SseParser", () => {
  it("parses events split across chunks at any point", () => {
    const text = `id: 0\ndata: {"a":1}\n\n: keep-alive\n\nid: 1\ndata: {"a":2}\n\nevent: done\ndata: {"dropped":3}\n\n`;
    for (let cut = 1; cut < text.length; cut += 3) {
      const p = new SseParser();
      const evs = [...p.push(text.slice(0, cut)), ...p.push(text.slice(cut))];
      expect(evs).toEqual([
        { event: "message", id: "0", data: '{"a":1}' },
        { event: "message", id: "1", data: '{"a":2}' },
        { event: "done", id: "1", data: '{"dropped":3}' },
      ]);
    }
  });

  it("accepts CRLF line ends, multi-line data and fields without a space", () => {
    const p = new SseParser();
    expect(p.push("data:one\r\ndata: two\r\n\r\n")).toEqual([{ event: "message", id: undefined, data: "one\ntwo" }]);
  });

  it("ignores comments and events without data", () => {
    const p = new SseParser();
    expect(p.push(": keep-alive\n\nevent: x\n\n")).toEqual([]);
  });
});

describe("rowsOf", () => {
  it("numbers rows from start_id and converts event times to ms", () => {
    const rows = rowsOf(JSON.parse(data(12, [{ counter: 24 }, { counter: 26 }])));
    expect(rows).toEqual([
      { id: 12, time: 1_700_000_000_000, subtask: 0, values: { counter: 24 } },
      { id: 13, time: 1_700_000_000_001, subtask: 0, values: { counter: 26 } },
    ]);
  });
  it("survives a batch that is not JSON", () => {
    expect(rowsOf({ operator_id: "x", subtask_idx: 0, timestamps: [], start_id: 0, batch: "nope" })).toEqual([]);
  });
});

describe("readOutput", () => {
  it("delivers rows and stops at `event: done`", async () => {
    vi.stubGlobal(
      "fetch",
      vi.fn(async () =>
        sseResponse([`id: 0\ndata: ${data(0, [{ c: 1 }])}\n\n`, `id: 1\ndata: ${data(1, [{ c: 2 }, { c: 3 }])}\n\n`, `event: done\ndata: {"dropped":2}\n\n`]),
      ),
    );
    const rows: number[] = [];
    const onDone = vi.fn();
    await readOutput("/out", { onRows: (r) => rows.push(...r.map((x) => x.values.c as number)), onDone }, new AbortController().signal);
    expect(rows).toEqual([1, 2, 3]);
    expect(onDone).toHaveBeenCalledWith({ dropped: 2 });
  });

  it("rejects with the API's error message", async () => {
    vi.stubGlobal("fetch", vi.fn(async () => json({ error: "Job must be running to read output" }, 400)));
    const err = await readOutput("/out", { onRows: () => {}, onDone: () => {} }, new AbortController().signal).catch((e) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect(err).toMatchObject({ status: 400, message: "Job must be running to read output" });
  });

  it("reports a stream that closes without `done`", async () => {
    vi.stubGlobal("fetch", vi.fn(async () => sseResponse([`id: 0\ndata: ${data(0, [{ c: 1 }])}\n\n`])));
    await expect(readOutput("/out", { onRows: () => {}, onDone: () => {} }, new AbortController().signal)).rejects.toThrow(/closed before/);
  });
});
