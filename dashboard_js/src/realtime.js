// Realtime figures: every element with data-realtime-json is refreshed from that URL every 15 s,
// paused while the page is hidden and refreshed at once when it shows again.

import {
  REALTIME_ATTR,
  REALTIME_FIELD_ATTR,
  REALTIME_INTERVAL_MS,
  REALTIME_MINUTES_ATTR,
  REALTIME_PAGES_ATTR,
  REALTIME_UNIT_ATTR,
  SHARE_ATTR,
} from "./constants.js";
import { applyShares } from "./bars.js";
import { formatNumber, minuteText, pageviewsText, visitorsUnit } from "./format.js";

function cell(tag, text, className) {
  const node = document.createElement(tag);
  node.textContent = text;
  if (className) node.className = className;
  if (tag === "th") node.scope = "row";
  return node;
}

function render(root, data) {
  for (const field of root.querySelectorAll(`[${REALTIME_FIELD_ATTR}]`)) {
    const value = data[field.getAttribute(REALTIME_FIELD_ATTR)];
    if (typeof value === "number") field.textContent = formatNumber(value);
  }
  for (const unit of root.querySelectorAll(`[${REALTIME_UNIT_ATTR}]`)) {
    if (typeof data.visitors === "number") unit.textContent = visitorsUnit(data.visitors);
  }
  const pages = root.querySelector(`[${REALTIME_PAGES_ATTR}]`);
  if (pages && Array.isArray(data.pages)) {
    pages.replaceChildren(
      ...data.pages.map((row) => {
        const tr = document.createElement("tr");
        tr.append(cell("th", String(row.page), "label"), cell("td", formatNumber(row.visitors), "num"));
        return tr;
      }),
    );
  }
  const minutes = root.querySelector(`[${REALTIME_MINUTES_ATTR}]`);
  if (minutes && Array.isArray(data.minutes)) {
    const peak = Math.max(1, ...data.minutes);
    const items = minutes.children;
    data.minutes.forEach((count, i) => {
      const column = items[i] && items[i].querySelector(`[${SHARE_ATTR}]`);
      if (!column) return;
      column.setAttribute(SHARE_ATTR, String(count / peak));
      items[i].title = pageviewsText(count);
      column.nextElementSibling.textContent = minuteText(data.minutes.length - 1 - i, count);
    });
    applyShares(minutes);
  }
}

export function initRealtime() {
  const roots = [...document.querySelectorAll(`[${REALTIME_ATTR}]`)];
  if (!roots.length) return;
  const refresh = () => {
    if (document.hidden) return;
    for (const root of roots) {
      fetch(root.getAttribute(REALTIME_ATTR), { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then((response) => (response.ok ? response.json() : null))
        .then((data) => data && render(root, data))
        .catch(() => {}); // a missed refresh is retried by the next tick
    }
  };
  setInterval(refresh, REALTIME_INTERVAL_MS);
  document.addEventListener("visibilitychange", refresh);
}
