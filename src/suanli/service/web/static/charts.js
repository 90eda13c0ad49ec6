/* Suanli dashboard: pure series functions and an inline-SVG line chart (no libraries). */
"use strict";

/**
 * Utilization over time: at each of `n` sample times t in [t0, t1],
 *   u(t) = sum_{jobs running at t} demand_j / capacity
 * where a job runs on [started_at, finished_at) (still open while it runs) and demand is its GPUs when the
 * capacity is GPUs, else its CPUs (the same share the API's /sites utilization uses).
 * Returns [[t, u], ...] with u clipped to [0, 1].
 */
function utilizationSeries(jobs, capacity, unit, now, n) {
  const spans = jobs.filter(j => j.started_at != null)
    .map(j => [j.started_at, j.finished_at != null ? j.finished_at : Infinity,
               unit === "GPU" ? (j.gpus || 0) : (j.cpus || 0)]);
  if (!spans.length || !(capacity > 0)) return [];
  const t0 = Math.min(...spans.map(s => s[0]));
  const t1 = Math.max(now, ...spans.map(s => s[1]).filter(Number.isFinite));
  const out = [];
  for (let i = 0; i < n; i++) {
    const t = n === 1 ? t1 : t0 + (t1 - t0) * i / (n - 1);
    let used = 0;
    for (const [a, b, d] of spans) if (a <= t && t < b) used += d;
    out.push([t, Math.min(1, used / capacity)]);
  }
  return out;
}

/** Cumulative cost: [[created_at, sum of cost_usd up to and including that record], ...]. */
function cumulativeCost(records) {
  const sorted = records.slice().sort((a, b) => a.created_at - b.created_at);
  let total = 0;
  return sorted.map(r => { total += r.cost_usd; return [r.created_at, total]; });
}

/** Render [[x, y], ...] as an SVG polyline into `el`; x is unix seconds. */
function lineChart(el, points, yLabel, yMax) {
  el.textContent = "";
  if (!points.length) {
    const p = document.createElement("p");
    p.className = "empty";
    p.textContent = "No data yet.";
    el.appendChild(p);
    return;
  }
  const W = 640, H = 220, L = 50, R = 10, T = 10, B = 30;
  const xs = points.map(p => p[0]), ys = points.map(p => p[1]);
  const x0 = Math.min(...xs), x1 = Math.max(...xs) > x0 ? Math.max(...xs) : x0 + 1;
  const top = yMax != null ? yMax : (Math.max(...ys) > 0 ? Math.max(...ys) : 1);
  const sx = x => L + (x - x0) / (x1 - x0) * (W - L - R);
  const sy = y => H - B - y / top * (H - T - B);
  const ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("viewBox", `0 0 ${W} ${H}`);
  svg.setAttribute("width", W);
  svg.setAttribute("height", H);
  const add = (tag, attrs, text) => {
    const e = document.createElementNS(ns, tag);
    for (const k in attrs) e.setAttribute(k, attrs[k]);
    if (text != null) e.textContent = text;
    svg.appendChild(e);
    return e;
  };
  add("line", {x1: L, y1: H - B, x2: W - R, y2: H - B, class: "axis"});
  add("line", {x1: L, y1: T, x2: L, y2: H - B, class: "axis"});
  add("text", {x: 4, y: T + 10}, top.toPrecision(3));
  add("text", {x: 4, y: H - B}, "0");
  add("text", {x: L, y: H - 8}, new Date(x0 * 1000).toLocaleTimeString());
  add("text", {x: W - R - 70, y: H - 8}, new Date(x1 * 1000).toLocaleTimeString());
  add("text", {x: L + 80, y: T + 10}, yLabel);
  add("polyline", {class: "series",
                   points: points.map(p => `${sx(p[0]).toFixed(1)},${sy(p[1]).toFixed(1)}`).join(" ")});
  el.appendChild(svg);
}

if (typeof module !== "undefined") module.exports = {utilizationSeries, cumulativeCost};
