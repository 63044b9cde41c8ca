// Number, size, rate, time and duration formatting. Every number the
// console shows carries its unit.

const nf0 = new Intl.NumberFormat("en-US", { maximumFractionDigits: 0 });
const nf1 = new Intl.NumberFormat("en-US", { maximumFractionDigits: 1 });
const nf2 = new Intl.NumberFormat("en-US", { maximumFractionDigits: 2 });

/** 1234567 → "1,234,567". */
export function formatInt(n: number): string {
  return nf0.format(n);
}

/** A compact number: 950, 9.5k, 12k, 1.2M. */
export function formatCompact(n: number): string {
  const a = Math.abs(n);
  if (a < 1000) return a < 10 && a !== Math.trunc(a) ? nf1.format(n) : nf0.format(n);
  const units: [number, string][] = [
    [1e12, "T"],
    [1e9, "G"],
    [1e6, "M"],
    [1e3, "k"],
  ];
  for (const [v, u] of units) {
    if (a >= v) {
      const x = n / v;
      return (Math.abs(x) < 10 ? nf1.format(x) : nf0.format(x)) + u;
    }
  }
  return nf0.format(n);
}

/** Bytes in binary units: 0 B, 512 B, 1.5 KiB, 23 MiB. */
export function formatBytes(n: number): string {
  if (!Number.isFinite(n)) return "—";
  const a = Math.abs(n);
  if (a < 1024) return `${nf0.format(n)} B`;
  const units = ["KiB", "MiB", "GiB", "TiB"];
  let v = n / 1024;
  let i = 0;
  while (Math.abs(v) >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${Math.abs(v) < 10 ? nf1.format(v) : nf0.format(v)} ${units[i]}`;
}

/** Messages per second: "48 msg/s", "1.2k msg/s". */
export function formatRate(perSec: number, unit = "msg/s"): string {
  if (!Number.isFinite(perSec)) return "—";
  return `${formatCompact(perSec)} ${unit}`;
}

/** Bytes per second: "2.3 KiB/s". */
export function formatByteRate(perSec: number): string {
  if (!Number.isFinite(perSec)) return "—";
  return `${formatBytes(perSec)}/s`;
}

/** A duration given in milliseconds: "850 ms", "4.2 s", "3 min 20 s", "2 h 5 min", "3 d 4 h". */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return "—";
  if (ms < 1) return `${nf2.format(ms)} ms`;
  if (ms < 1000) return `${nf0.format(ms)} ms`;
  const s = ms / 1000;
  if (s < 60) return `${s < 10 ? nf1.format(s) : nf0.format(Math.floor(s))} s`;
  const totalS = Math.floor(s);
  const d = Math.floor(totalS / 86400);
  const h = Math.floor((totalS % 86400) / 3600);
  const m = Math.floor((totalS % 3600) / 60);
  const sec = totalS % 60;
  if (d > 0) return h ? `${d} d ${h} h` : `${d} d`;
  if (h > 0) return m ? `${h} h ${m} min` : `${h} h`;
  return sec ? `${m} min ${sec} s` : `${m} min`;
}

/** An uptime in milliseconds, in whole seconds: "9 s", "3 min 20 s". */
export function formatUptime(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return "—";
  return ms < 60_000 ? `${Math.floor(ms / 1000)} s` : formatDuration(ms);
}

/** A duration given in microseconds. */
export function formatMicros(us: number): string {
  return formatDuration(us / 1000);
}

/** A checkpoint interval: "10 s", "1 min", "1 h 30 min". */
export function formatInterval(micros: number): string {
  return formatDuration(micros / 1000);
}

const dateTime = new Intl.DateTimeFormat("en-GB", {
  year: "numeric",
  month: "short",
  day: "numeric",
  hour: "2-digit",
  minute: "2-digit",
  second: "2-digit",
});
const timeOnly = new Intl.DateTimeFormat("en-GB", { hour: "2-digit", minute: "2-digit", second: "2-digit" });

/** An absolute time from µs since the epoch: "4 Dec 2026, 16:22:35". */
export function formatTime(micros: number | null | undefined): string {
  if (micros === null || micros === undefined || micros <= 0) return "—";
  return dateTime.format(new Date(micros / 1000));
}

/** A time of day from milliseconds since the epoch, with milliseconds: "16:22:35.120". */
export function formatClockMs(ms: number): string {
  const d = new Date(ms);
  return `${timeOnly.format(d)}.${String(d.getMilliseconds()).padStart(3, "0")}`;
}

/** How long ago, from µs since the epoch: "just now", "5 s ago", "3 min ago". */
export function formatAgo(micros: number | null | undefined, nowMs = Date.now()): string {
  if (micros === null || micros === undefined || micros <= 0) return "—";
  const ms = nowMs - micros / 1000;
  if (ms < 2000) return "just now";
  return `${formatDuration(Math.max(ms, 0)).replace(/^(\d+(?:\.\d)?) s$/, (_, x: string) => `${Math.floor(Number(x))} s`)} ago`;
}

/** A percentage from a 0..1 ratio: "42%". */
export function formatPercent(ratio: number): string {
  if (!Number.isFinite(ratio)) return "—";
  return `${nf0.format(Math.round(ratio * 100))}%`;
}
