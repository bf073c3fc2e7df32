// The pure helpers behind the dashboard's script: labels, numbers, bar shares, tab keys, chart columns.

import assert from "node:assert/strict";
import { test } from "node:test";
import {
  axisLabel,
  chartColumns,
  compactNumber,
  consentColumns,
  formatNumber,
  longLabel,
  minuteText,
  nextTabIndex,
  niceMax,
  parseLabel,
  presentIndex,
  sharePercent,
  visitorsUnit,
} from "../src/format.js";

test("bucket labels are read as the site's local time, never moved into the browser's zone", () => {
  assert.deepEqual(parseLabel("2026-11-21T13:00:00"), { year: 2026, month: 11, day: 21, hour: "13", minute: "00" });
  assert.equal(axisLabel("2026-11-21T13:00:00", "hour"), "13:00");
  assert.equal(axisLabel("2026-11-21T00:00:00+01:00", "hour"), "00:00");
  assert.equal(axisLabel("2026-11-21", "day"), "21 Nov");
  assert.equal(axisLabel("2027-01-01", "day"), "1 Jan");
  assert.equal(longLabel("2026-11-21", "day"), "Sat 21 Nov 2026");
  assert.equal(longLabel("2026-11-21T09:00:00", "hour"), "Sat 21 Nov 2026, 09:00");
  assert.equal(axisLabel("not a date", "day"), "not a date");
  assert.equal(parseLabel(null), null);
});

test("numbers: grouped in tables and legends, compact on the axis", () => {
  assert.equal(formatNumber(1234567), "1,234,567");
  assert.equal(formatNumber(2.345), "2.3");
  assert.equal(formatNumber(null), "—");
  assert.equal(formatNumber(undefined), "—");
  assert.deepEqual([0, 950, 999.7, 1200, 12000, 999999, 3400000].map(compactNumber), ["0", "950", "1k", "1.2k", "12k", "1M", "3.4M"]);
  assert.equal(compactNumber(-1500), "−1.5k");
});

test("the realtime words agree in number", () => {
  assert.equal(visitorsUnit(1), "current visitor");
  assert.equal(visitorsUnit(0), "current visitors");
  assert.equal(visitorsUnit(7), "current visitors");
  assert.equal(minuteText(3, 1), "3 minutes ago: 1 pageview");
  assert.equal(minuteText(0, 1200), "0 minutes ago: 1,200 pageviews");
});

test("bar shares are clamped to 0..100% whatever the attribute holds", () => {
  assert.equal(sharePercent("0.42"), "42%");
  assert.equal(sharePercent("0.1234"), "12.3%");
  assert.equal(sharePercent("1"), "100%");
  assert.equal(sharePercent("7"), "100%");
  assert.equal(sharePercent("-1"), "0%");
  assert.equal(sharePercent("NaN"), "0%");
  assert.equal(sharePercent("1e9999"), "0%");
  assert.equal(sharePercent(null), "0%");
  assert.equal(sharePercent("0.5; background:red"), "50%");
});

test("tab keys: arrows wrap around, Home and End jump, other keys are left alone", () => {
  assert.equal(nextTabIndex("ArrowRight", 0, 3), 1);
  assert.equal(nextTabIndex("ArrowRight", 2, 3), 0);
  assert.equal(nextTabIndex("ArrowLeft", 0, 3), 2);
  assert.equal(nextTabIndex("ArrowDown", 1, 3), 2);
  assert.equal(nextTabIndex("ArrowUp", 1, 3), 0);
  assert.equal(nextTabIndex("Home", 2, 3), 0);
  assert.equal(nextTabIndex("End", 0, 3), 2);
  assert.equal(nextTabIndex("Enter", 0, 3), null);
  assert.equal(nextTabIndex("a", 0, 3), null);
  assert.equal(nextTabIndex("ArrowRight", 0, 0), null);
});

test("chart columns: x is the bucket's index, short or missing series are padded with gaps", () => {
  const chart = {
    unit: "day",
    labels: ["2026-11-20", "2026-11-21", "2026-11-22"],
    visitors: [1, 2, 3],
    pageviews: [4, 5],
    previous_visitors: [0, 1, 1],
  };
  assert.deepEqual(chartColumns(chart), [[0, 1, 2], [1, 2, 3], [4, 5, null], [0, 1, 1], [null, null, null]]);
  const consent = { unit: "day", labels: ["a", "b"], accept_all: [3, 4], reject_all: [1, 0], custom: [0, 2] };
  assert.deepEqual(consentColumns(consent), [[0, 1], [3, 4], [1, 0], [0, 2], [null, null]]);
});

test("the y axis tops out at a round number above the maximum", () => {
  assert.equal(niceMax(0), 1);
  assert.equal(niceMax(null), 1);
  assert.equal(niceMax(7), 8);
  assert.equal(niceMax(90), 100);
  assert.equal(niceMax(100), 100);
  assert.equal(niceMax(101), 120);
  assert.equal(niceMax(2600), 3000);
});

test("the present bucket is the last one the server names, or none", () => {
  const labels = ["2026-12-08T00:00", "2026-12-08T01:00", "2026-12-08T02:00"];
  assert.equal(presentIndex({ labels, present_index: 2 }), 2);
  assert.equal(presentIndex({ labels: labels.slice(0, 1), present_index: 0 }), 0); // just after midnight
  assert.equal(presentIndex({ labels, present_index: null }), null); // a range that is over
  assert.equal(presentIndex({ labels }), null); // an older server
  assert.equal(presentIndex({ labels, present_index: 1 }), null); // never a bucket before the last
  assert.equal(presentIndex({ labels, present_index: "2" }), null);
  assert.equal(presentIndex({ labels: [], present_index: 0 }), null);
});
