// Names the templates (gateway/dashboard/templates/) and the scripts share, budgets and timings.
// A renamed id or data attribute must change here and in the templates together.

// gzip budgets of the built files, checked by build.mjs. uPlot alone is ~23 KB of the script.
export const JS_BUDGET = 27 * 1024;
export const CSS_BUDGET = 4608;

// The overview's chart: a container and the JSON the server embeds next to it.
export const CHART_ID = "chart";
export const CHART_DATA_ID = "chart-data";
// The consent page's chart.
export const CONSENT_CHART_ID = "consent-chart";
export const CONSENT_DATA_ID = "consent-data";
export const CHART_HEIGHT = 280;

// Bars behind table labels and the realtime minute columns: data-share="0.42" (0..1). CSP forbids
// style attributes, so the script sets the width (or, with data-share-dim="height", the height).
export const SHARE_ATTR = "data-share";
export const SHARE_DIM_ATTR = "data-share-dim";

// Cards with tabs: <section data-tabs> holding [role=tablist] > a[role=tab][data-fragment] and the
// [role=tabpanel] each tab names with aria-controls. data-fragment is the card body's URL.
export const TABS_SELECTOR = "[data-tabs]";
export const FRAGMENT_ATTR = "data-fragment";

// Realtime: any element with data-realtime-json="URL" is refreshed from that URL. Inside it:
// [data-realtime-field=visitors|pageviews] numbers, [data-realtime-unit] the words after the
// visitors' number, [data-realtime-pages] a <tbody> of top pages, [data-realtime-minutes] columns.
export const REALTIME_ATTR = "data-realtime-json";
export const REALTIME_FIELD_ATTR = "data-realtime-field";
export const REALTIME_UNIT_ATTR = "data-realtime-unit";
export const REALTIME_PAGES_ATTR = "data-realtime-pages";
export const REALTIME_MINUTES_ATTR = "data-realtime-minutes";
export const REALTIME_INTERVAL_MS = 15000;

// Chart colours come from these CSS custom properties (light and dark set in dashboard.css).
export const COLOR_VARS = {
  visitors: "--chart-visitors",
  visitorsFill: "--chart-visitors-fill",
  pageviews: "--chart-pageviews",
  previous: "--chart-previous",
  axis: "--chart-axis",
  grid: "--chart-grid",
  accept: "--consent-accept",
  reject: "--consent-reject",
  custom: "--consent-custom",
  withdraw: "--consent-withdraw",
};

// Ticks of the index-based x axis: whole buckets only (hours or days).
export const X_INCREMENTS = [1, 2, 3, 4, 6, 7, 12, 14, 24, 28, 30, 60, 90, 120, 180, 365];
