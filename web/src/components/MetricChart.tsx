// A small time-series line chart in SVG: lines scale with the box, labels
// are HTML so that they stay crisp and never stretch.
import { formatClockMs } from "../lib/format";

export interface Series {
  label: string;
  color: string;
  points: [number, number][]; // [ms since epoch, value]
}

export function niceMax(v: number): number {
  if (!(v > 0)) return 1;
  const exp = Math.pow(10, Math.floor(Math.log10(v)));
  for (const m of [1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10]) if (m * exp >= v) return m * exp;
  return 10 * exp;
}

export function MetricChart({
  title,
  series,
  format,
  height = 96,
  fixedMax,
}: {
  title: string;
  series: Series[];
  format: (v: number) => string;
  height?: number;
  fixedMax?: number;
}) {
  const all = series.flatMap((s) => s.points);
  const t0 = Math.min(...all.map((p) => p[0]));
  const t1 = Math.max(...all.map((p) => p[0]));
  const max = fixedMax ?? niceMax(Math.max(0, ...all.map((p) => p[1])));
  const enough = all.length >= 2 && t1 > t0;
  const x = (t: number) => ((t - t0) / (t1 - t0)) * 100;
  const y = (v: number) => height - (Math.min(v, max) / max) * height;
  const latest = series.map((s) => (s.points.length ? s.points[s.points.length - 1][1] : undefined));
  return (
    <div className="chart" data-testid="metric-chart">
      <div className="chart-title">
        <span>{title}</span>
        <span className="legend">
          {series.map((s, i) => (
            <span key={s.label}>
              <span className="swatch" style={{ background: s.color }} />
              {s.label} <span className="now">{latest[i] !== undefined ? format(latest[i]!) : "—"}</span>
            </span>
          ))}
        </span>
      </div>
      <div style={{ position: "relative", height: height + 18, paddingLeft: 0 }}>
        <svg viewBox={`0 0 100 ${height}`} preserveAspectRatio="none" style={{ height, width: "100%" }} role="img" aria-label={title}>
          {[0, 0.5, 1].map((f) => (
            <line key={f} className="grid" x1={0} x2={100} y1={y(max * f)} y2={y(max * f)} vectorEffect="non-scaling-stroke" />
          ))}
          {enough &&
            series.map((s, i) => {
              const d = s.points.map((p, j) => `${j ? "L" : "M"}${x(p[0]).toFixed(3)},${y(p[1]).toFixed(3)}`).join(" ");
              return (
                <g key={s.label}>
                  {i === 0 && (
                    <path d={`${d} L${x(s.points[s.points.length - 1][0])},${height} L${x(s.points[0][0])},${height} Z`} fill={s.color} opacity={0.08} />
                  )}
                  <path d={d} fill="none" stroke={s.color} strokeWidth={1.8} vectorEffect="non-scaling-stroke" strokeLinejoin="round" />
                </g>
              );
            })}
        </svg>
        <span className="axis" style={{ position: "absolute", left: 4, top: -1, fontSize: 10.5, color: "var(--muted)", background: "rgba(255,255,255,0.8)", padding: "0 2px" }}>
          {format(max)}
        </span>
        {enough ? (
          <>
            <span style={{ position: "absolute", left: 0, bottom: 0, fontSize: 10.5, color: "var(--muted)" }}>{formatClockMs(t0).slice(0, 8)}</span>
            <span style={{ position: "absolute", right: 0, bottom: 0, fontSize: 10.5, color: "var(--muted)" }}>{formatClockMs(t1).slice(0, 8)}</span>
          </>
        ) : (
          <span style={{ position: "absolute", left: 0, right: 0, top: height / 2 - 10, textAlign: "center", fontSize: 12, color: "var(--muted)" }}>
            Collecting samples…
          </span>
        )}
      </div>
    </div>
  );
}
