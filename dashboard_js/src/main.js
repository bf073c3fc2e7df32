// The dashboard's script: progressive enhancement of server-rendered pages. Every figure, table
// and link works without it; it adds the charts, tab swapping, table bars and realtime refresh.

import { applyShares } from "./bars.js";
import { initCharts } from "./chart.js";
import { initRealtime } from "./realtime.js";
import { initTabs } from "./tabs.js";

function start() {
  applyShares();
  initTabs();
  initRealtime();
  initCharts();
}

if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
else start();
