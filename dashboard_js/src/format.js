// Pure helpers: labels, numbers, shares and keyboard logic. No DOM, so node's test runner covers them.

const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
const DAYS = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
const NUMBER = new Intl.NumberFormat("en-US");

// Bucket labels are local times of the site ("2026-11-21" or "2026-11-21T13:00:00"), read as
// written: a Date would move them into the browser's time zone.
export function parseLabel(iso) {
  const match = /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2}))?/.exec(String(iso));
  if (!match) return null;
  const [, y, m, d, hh = "00", mm = "00"] = match;
  return { year: +y, month: +m, day: +d, hour: hh, minute: mm };
}

export function axisLabel(iso, unit) {
  const p = parseLabel(iso);
  if (!p) return String(iso);
  return unit === "hour" ? `${p.hour}:${p.minute}` : `${p.day} ${MONTHS[p.month - 1]}`;
}

export function longLabel(iso, unit) {
  const p = parseLabel(iso);
  if (!p) return String(iso);
  const weekday = DAYS[new Date(Date.UTC(p.year, p.month - 1, p.day)).getUTCDay()];
  const date = `${weekday} ${p.day} ${MONTHS[p.month - 1]} ${p.year}`;
  return unit === "hour" ? `${date}, ${p.hour}:${p.minute}` : date;
}

export function formatNumber(value) {
  if (value == null || Number.isNaN(+value)) return "—";
  return NUMBER.format(Math.round(+value * 10) / 10);
}

// Axis ticks: 950, 1.2k, 12k, 3.4M.
export function compactNumber(value) {
  const n = Math.abs(value);
  const short = (x, suffix) => `${x < 10 ? Math.round(x * 10) / 10 : Math.round(x)}${suffix}`;
  const text = n >= 999500 ? short(n / 1e6, "M") : n >= 999.5 ? short(n / 1e3, "k") : String(Math.round(n * 10) / 10);
  return value < 0 ? `−${text}` : text;
}

export function pageviewsText(count) {
  return `${formatNumber(count)} ${count === 1 ? "pageview" : "pageviews"}`;
}

// The realtime columns' text for screen readers; the template writes the same words.
export function minuteText(minutesAgo, count) {
  return `${minutesAgo} minutes ago: ${pageviewsText(count)}`;
}

export function visitorsUnit(count) {
  return count === 1 ? "current visitor" : "current visitors";
}

// data-share="0.42" -> "42%"; anything out of range or not a number is clamped, never trusted.
export function sharePercent(text) {
  const share = Number.parseFloat(text);
  if (!Number.isFinite(share) || share <= 0) return "0%";
  return `${Math.round(Math.min(share, 1) * 1000) / 10}%`;
}

// The tab a key moves to (WAI-ARIA tabs: arrows wrap, Home/End jump), or null for other keys.
export function nextTabIndex(key, index, count) {
  if (count < 1) return null;
  switch (key) {
    case "ArrowRight":
    case "ArrowDown":
      return (index + 1) % count;
    case "ArrowLeft":
    case "ArrowUp":
      return (index - 1 + count) % count;
    case "Home":
      return 0;
    case "End":
      return count - 1;
    default:
      return null;
  }
}

// uPlot's columns from the overview's chart JSON; x is the bucket's index, labels come from it.
export function chartColumns(chart) {
  const n = chart.labels.length;
  const pad = (values) => Array.from({ length: n }, (_, i) => (values && values[i] != null ? values[i] : null));
  return [
    Array.from({ length: n }, (_, i) => i),
    pad(chart.visitors),
    pad(chart.pageviews),
    pad(chart.previous_visitors),
    pad(chart.previous_pageviews),
  ];
}

// The bucket "now" falls in (the server's present_index): the last one, still filling. Anything
// else (absent, null, out of range, not the last) is no present bucket: the range is over.
export function presentIndex(chart) {
  const n = Array.isArray(chart.labels) ? chart.labels.length : 0;
  const i = chart.present_index;
  return Number.isInteger(i) && i === n - 1 ? i : null;
}

export const CONSENT_SERIES = [
  ["accept_all", "Accept all", "accept"],
  ["reject_all", "Reject all", "reject"],
  ["custom", "Custom", "custom"],
  ["withdraw", "Withdraw", "withdraw"],
];

export function consentColumns(chart) {
  const n = chart.labels.length;
  return [
    Array.from({ length: n }, (_, i) => i),
    ...CONSENT_SERIES.map(([key]) => Array.from({ length: n }, (_, i) => (chart[key] ? chart[key][i] ?? null : null))),
  ];
}

// The y scale's top: a round number above the maximum, so the grid lines land on round values.
export function niceMax(max) {
  if (!(max > 0)) return 1;
  const magnitude = 10 ** Math.floor(Math.log10(max));
  for (const step of [1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10]) {
    if (max <= step * magnitude) return step * magnitude;
  }
  return 10 * magnitude;
}
