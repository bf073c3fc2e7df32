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
    scales: { x: { time: false }, y: { range: (u, min, max) => [0, niceMax(max)] } },
    axes: [xAxis(labels, unit, c), yAxis(c)],
    cursor: { y: false, drag: { x: false, y: false } },
    legend: { live: true },
  };
}

function mainOptions(chart, width) {
  const c = colors();
  const { labels, unit } = chart;
  const previous = chart.previous_label || "previous period";
  return {
    ...baseOptions(width, labels, unit, c),
    series: [
      { label: unit === "hour" ? "Hour" : "Day", value: (u, i) => (labels[i] == null ? "—" : longLabel(labels[i], unit)) },
      line("Visitors", c.visitors, { fill: c.visitorsFill }),
      line("Pageviews", c.pageviews),
      line(`Visitors (${previous})`, c.previous, { dash: [6, 4], width: 1.5 }),
      line(`Pageviews (${previous})`, c.previous, { dash: [2, 4], width: 1.5, show: false }),
    ],
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
  if (main && data && Array.isArray(data.labels)) {
    mount(main, (width) => mainOptions(data, width), chartColumns(data));
  }
  const consent = document.getElementById(CONSENT_CHART_ID);
  const consentData = readJson(CONSENT_DATA_ID);
  if (consent && consentData && Array.isArray(consentData.labels)) {
    mount(consent, (width) => consentOptions(consentData, width), consentColumns(consentData));
  }
}
