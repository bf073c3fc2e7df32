// What one hit sends: the page's parameters, the command's own, the query string they make, and
// which links count as outlinks or downloads. Pure functions over plain values, so node's test
// runner checks them without a browser (test/request.test.js).

import { DOWNLOADS } from "./constants.js";

// The query string of one hit. Empty values are left out: Matomo reads a missing parameter and an
// empty one alike, and the hit stays short. So are false and NaN: Matomo's own calls say "unknown"
// with false (trackSiteSearch(keyword, false, false)), and the gateway would refuse "false" as a number.
export const query = (params) => new URLSearchParams(Object.entries(params).filter(([, value]) => value === 0 || value)) + "";

// The parameters every hit carries besides the page's: rec, and the visitor's local time as Matomo
// sends it (h, m, s).
export const common = (date) => ({ rec: 1, h: date.getHours(), m: date.getMinutes(), s: date.getSeconds() });

// What each tracking command adds, with Matomo's argument order.
export const HITS = {
  trackPageView: (title) => ({ action_name: title }),
  trackEvent: (category, action, name, value) => ({ e_c: category, e_a: action, e_n: name, e_v: value }),
  trackSiteSearch: (keyword, category, count) => ({ search: keyword, search_cat: category, search_count: count }),
  trackGoal: (goal, revenue) => ({ idgoal: goal, revenue }),
  trackLink: (url, type) => ({ [type == "download" ? type : "link"]: url }),
};

const bare = (host) => host.replace(/^www\./, "");

// link: an <a> element (or any object with its protocol, hostname, pathname and hasAttribute);
// host: the page's. "download", "link" (an outlink), or false: not tracked (same site, or not
// http(s), so mailto: and tel: addresses are never sent).
export const linkKind = (link, host) =>
  /^http/.test(link.protocol) &&
  (link.hasAttribute("download") || DOWNLOADS.test(link.pathname) ? "download" : bare(link.hostname) != bare(host) && "link");
