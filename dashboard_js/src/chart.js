// The overview's visitors/pageviews chart and the consent page's decisions chart, drawn by uPlot
// from the JSON the server embeds. Colours come from CSS variables (light/dark), the width from
// the container; both are followed while the page is open.

import uPlot from "uplot";
import {
  CHART_DATA_ID,
  CHART_HEIGHT,
  CHART_ID,
  COLOR_VARS,
  CONSENT_CHART_ID,
  CONSENT_DATA_ID,
  X_INCREMENTS,
} from "./constants.js";
import {
  CONSENT_SERIES,
  axisLabel,
  chartColumns,
  compactNumber,
  consentColumns,
  formatNumber,
  longLabel,
  niceMax,
  presentIndex,
} from "./format.js";

function colors() {
  const style = getComputedStyle(document.documentElement);
  const out = {};
  for (const [name, variable] of Object.entries(COLOR_VARS)) out[name] = style.getPropertyValue(variable).trim();
  return out;
}

function readJson(id) {
  const node = document.getElementById(id);
  if (!node) return null;
  try {
    return JSON.parse(node.textContent);
  } catch {
    return null;
  }
}

function xAxis(labels, unit, c) {
  return {
    stroke: c.axis,
    grid: { show: false },
    ticks: { show: false },
    space: unit === "hour" ? 44 : 56,
    incrs: X_INCREMENTS,
    values: (u, splits) => splits.map((i) => (labels[i] == null ? "" : axisLabel(labels[i], unit))),
  };
}

function yAxis(c) {
  return {
    stroke: c.axis,
    grid: { stroke: c.grid, width: 1 },
    ticks: { show: false },
    size: 48,
    values: (u, splits) => splits.map(compactNumber),
  };
}

function line(label, stroke, extra = {}) {
  return { label, stroke, width: 2, points: { show: false }, value: (u, v) => formatNumber(v), ...extra };
}

function baseOptions(width, labels, unit, c) {
  return {
    width,
    height: CHART_HEIGHT,
    // One bucket (just after midnight) stands in the middle, not at the left edge.
    scales: {
      x: { time: false, range: (u, min, max) => (u.data[0].length === 1 ? [-1, 1] : [min, max]) },
      y: { range: (u, min, max) => [0, niceMax(max)] },
    },
    axes: [xAxis(labels, unit, c), yAxis(c)],
    cursor: { y: false, drag: { x: false, y: false } },
    legend: { live: true },
  };
}

// The current period's lines stop solid at the last complete bucket; a draw hook adds the step to
// the bucket "now" falls in, dashed, as its figures are so far (the legend and the table say so).
const solidPath = uPlot.paths.linear();

function untilPresent(present) {
  return (u, si, i0, i1) => solidPath(u, si, i0, Math.max(i0, Math.min(i1, present - 1)));
}

function drawPresent(present) {
  return (u) => {
    const { ctx } = u;
    for (const si of [1, 2]) {
      const s = u.series[si];
      const [from, to] = [u.data[si][present - 1], u.data[si][present]];
      if (!s.show || from == null || to == null) continue;
      ctx.save();
      ctx.strokeStyle = s.stroke(u, si);
      ctx.lineWidth = s.width * uPlot.pxRatio;
      ctx.setLineDash([4 * uPlot.pxRatio, 4 * uPlot.pxRatio]);
      ctx.beginPath();
      ctx.moveTo(u.valToPos(present - 1, "x", true), u.valToPos(from, "y", true));
      ctx.lineTo(u.valToPos(present, "x", true), u.valToPos(to, "y", true));
      ctx.stroke();
      ctx.restore();
    }
  };
}

// Annotations: a marker per annotated bucket, laid over the plot (a link to the note in the list
// under the chart, titled with its text), placed again whenever uPlot draws (resize, redraw).
// DOM elements rather than canvas strokes so that hovering shows the note and a keyboard reaches
// it; positioned through element.style, which the CSP allows (it forbids style attributes).
function notesByIndex(chart) {
  const out = new Map();
  for (const n of Array.isArray(chart.annotations) ? chart.annotations : []) {
    if (!Number.isInteger(n.index) || n.index < 0 || n.index >= chart.labels.length) continue;
    if (!out.has(n.index)) out.set(n.index, []);
    out.get(n.index).push(n);
  }
  return out;
}

function noteMarker(notes, left) {
  const a = document.createElement("a");
  const text = `${longLabel(notes[0].date, "day")}: ${notes.map((n) => n.note).join("; ")}`;
  a.href = `#note-${notes[0].id}`;
  a.className = "chart-note";
  a.title = text;
  a.setAttribute("aria-label", `Annotation, ${text}`);
  Object.assign(a.style, { position: "absolute", top: "0", bottom: "0", width: "12px", left: `${left - 6}px`, zIndex: "1" });
  const rule = document.createElement("span");
  Object.assign(rule.style, { position: "absolute", top: "0", bottom: "0", left: "5.5px", borderLeft: "1px dashed var(--muted)" });
  const flag = document.createElement("span");
  Object.assign(flag.style, { position: "absolute", top: "0", left: "1px", width: "10px", height: "10px", borderRadius: "50%", background: "var(--accent)", border: "2px solid var(--panel)", boxSizing: "border-box" });
  a.append(rule, flag);
  return a;
}

function drawNotes(byIndex) {
  return (u) => {
    for (const old of u.over.querySelectorAll(".chart-note")) old.remove();
    for (const [index, notes] of byIndex) u.over.append(noteMarker(notes, u.valToPos(index, "x")));
  };
}

function mainOptions(chart, width) {
  const c = colors();
  const { labels, unit } = chart;
  const previous = chart.previous_label || "previous period";
  const present = presentIndex(chart);
  const dashed = present != null && present > 0;
  // One bucket (just after midnight) is a line of one point: shown as a dot.
  const current = labels.length === 1 ? { points: { show: true, size: 6 } } : dashed ? { paths: untilPresent(present) } : {};
  const notes = notesByIndex(chart);
  const noted = (i) => (notes.has(i) ? ` · ${notes.get(i).length === 1 ? "1 note" : `${notes.get(i).length} notes`}` : "");
  const bucket = (i) => (labels[i] == null ? "—" : longLabel(labels[i], unit) + (i === present ? " (so far)" : "") + noted(i));
  return {
    ...baseOptions(width, labels, unit, c),
    series: [
      { label: unit === "hour" ? "Hour" : "Day", value: (u, i) => bucket(i) },
      line("Visitors", c.visitors, { fill: c.visitorsFill, ...current }),
      line("Pageviews", c.pageviews, current),
      line(`Visitors (${previous})`, c.previous, { dash: [6, 4], width: 1.5 }),
      line(`Pageviews (${previous})`, c.previous, { dash: [2, 4], width: 1.5, show: false }),
    ],
    hooks: { draw: [...(dashed ? [drawPresent(present)] : []), ...(notes.size ? [drawNotes(notes)] : [])] },
  };
}

function consentOptions(chart, width) {
  const c = colors();
  const { labels, unit } = chart;
  return {
    ...baseOptions(width, labels, unit, c),
    series: [
      { label: unit === "hour" ? "Hour" : "Day", value: (u, i) => (labels[i] == null ? "—" : longLabel(labels[i], unit)) },
      ...CONSENT_SERIES.map(([, label, color]) => line(label, c[color], { points: { show: true, size: 5 } })),
    ],
  };
}

// Draws one chart into its container and keeps it fitted: redrawn on a colour-scheme change
// (the colours are baked into uPlot's options), resized with the container.
function mount(container, build, columns) {
  container.replaceChildren();
  container.classList.add("chart-ready");
  let plot = new uPlot(build(container.clientWidth), columns, container);
  const resize = () => plot.setSize({ width: container.clientWidth, height: CHART_HEIGHT });
  new ResizeObserver(resize).observe(container);
  matchMedia("(prefers-color-scheme: dark)").addEventListener("change", () => {
    plot.destroy();
    plot = new uPlot(build(container.clientWidth), columns, container);
  });
}

export function initCharts() {
  const main = document.getElementById(CHART_ID);
  const data = readJson(CHART_DATA_ID);
  // No bucket: a range still to come; the server's text says so and stays.
  if (main && data && Array.isArray(data.labels) && data.labels.length) {
    mount(main, (width) => mainOptions(data, width), chartColumns(data));
  }
  const consent = document.getElementById(CONSENT_CHART_ID);
  const consentData = readJson(CONSENT_DATA_ID);
  if (consent && consentData && Array.isArray(consentData.labels) && consentData.labels.length) {
    mount(consent, (width) => consentOptions(consentData, width), consentColumns(consentData));
  }
}
