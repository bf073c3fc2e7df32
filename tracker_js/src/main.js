// Entry point: reads the embedding <script>, takes over the _paq queue, and tracks only while the
// banner reports analytics consent. Every hit goes through send(), which refuses without consent.
// Before a decision, tracking calls wait in memory; a refusal drops them. Nothing is ever written to
// cookies or storage, before or after consent (build.mjs refuses a build that could): the
// visitor's identity is the gateway's HttpOnly consent cookie, which the browser attaches to the
// beacon and the tracker never sees.

import {
  ANALYTICS,
  BANNER_API,
  EVENTS,
  HEARTBEAT_SECONDS,
  MAX_HELD,
  PAGEVIEW,
  TRACKING_PATH,
} from "./constants.js";
import { common, HITS, linkKind, query } from "./request.js";

const script = document.currentScript;
const queued = window._paq || [];
// Not twice, and not over matomo.js: both turn _paq into an object of their own.
if (script && Array.isArray(queued)) {
  // data-site, data-spa. Hits go to the gateway t.js came from.
  let { site, spa } = script.dataset;
  const endpoint = new URL(TRACKING_PATH, script.src) + "?";
  const held = [];
  const here = () => location.href.split("#")[0];
  const dimensions = {};
  let granted, decided;
  let hints; // a promise of the client hints' JSON, asked for only once analytics is granted
  let pv; // the current pageview's id (later events and pings belong to it); "" without consent
  let url, title; // setCustomUrl, setDocumentTitle
  let referrer = document.referrer;
  let page = here(); // single-page apps: where the last pageview was
  let last = 0; // when the last hit went out
  let links, beating;

  const send = async (fields) => {
    if (!granted) return;
    const hit = {
      ...common(new Date((last = Date.now()))),
      idsite: site,
      url: url || location.href,
      urlref: referrer,
      res: screen.width + "x" + screen.height,
      lang: navigator.language,
      pv_id: pv,
      ...dimensions,
      ...fields,
    };
    // Every hit waits for the same hints, so the hits keep their order.
    const target = endpoint + query({ ...hit, uadata: await hints });
    navigator.sendBeacon(target) || fetch(target, { keepalive: true, credentials: "include" });
  };

  const commands = {
    setSiteId: (id) => (site = id), // Matomo's loader snippet, t.js in place of matomo.js
    setCustomUrl: (value) => (url = new URL(value, location) + ""),
    setDocumentTitle: (value) => (title = value),
    setReferrerUrl: (value) => (referrer = value),
    setCustomDimension: (id, value) => (dimensions["dimension" + id] = value),
    // Outlinks and downloads, also opened with the middle button ("in a new tab").
    enableLinkTracking: () =>
      (links ||= ["click", "auxclick"].map((name) =>
        addEventListener(
          name,
          (event) => {
            // composedPath: also links inside web components' shadow roots.
            const link = event.button < 2 && event.composedPath()[0].closest?.("a[href]");
            const kind = link && linkKind(link, location.hostname);
            if (kind) commands.trackLink(link.href, kind);
          },
          true,
        ),
      )),
    // A ping (it makes the visit's duration right) when the visitor leaves the page (another tab,
    // another page, closing) at least `seconds` after the last hit, as matomo.js does: the
    // duration ends when the reading did, and an abandoned tab sends nothing until it is left.
    enableHeartBeatTimer: (seconds) =>
      (beating ||=
        addEventListener(
          "visibilitychange",
          () => document.hidden && pv && Date.now() - last >= 1000 * (seconds || HEARTBEAT_SECONDS) && send({ ping: 1 }),
        ) || 1),
  };
  // A page's view (a pageview, or a search results page's site search) starts a new pageview id,
  // unique among one visitor's pageviews, which is all it needs.
  for (const name in HITS)
    commands[name] = (...args) => {
      if (PAGEVIEW.test(name)) pv = Date.now().toString(36);
      send(HITS[name](...args));
    };
  const pageview = commands.trackPageView;
  commands.trackPageView = (value) => pageview(value || title || document.title);

  // Settings apply at once (they send nothing). Before a decision, tracking calls wait, in order,
  // from the last page's view on (a single-page app may have shown several pages meanwhile: only
  // the page the visitor decides on is counted), at most MAX_HELD; once the visitor decided
  // against analytics, they are dropped.
  const take = (command) => {
    try {
      if (granted || !(command[0] in HITS)) commands[command[0]](...command.slice(1));
      else decided || (PAGEVIEW.test(command[0]) && (held.length = 0), held[MAX_HELD - 1] || held.push(command));
    } catch (e) {} // an unknown or malformed command must not break the page
  };
  window._paq = { push: (...pushed) => pushed.forEach(take) };
  queued.forEach(take);

  // The banner's state (consent_banner/, null until loaded): undecided, waiting calls are kept; a
  // refusal or a withdrawal stops tracking and drops them; a grant sends this page's pageview (unless
  // the page queued its own), then the waiting calls.
  const consent = (state) => {
    if (!state) return;
    decided = state.decided;
    granted = state.categories.includes(ANALYTICS);
    if (!granted) pv = "";
    else
      hints ||= navigator.userAgentData
        ?.getHighEntropyValues(["fullVersionList", "platformVersion"])
        .then(JSON.stringify, () => {}); // refused: the hits go without
    // This page's view comes first, unless the page queued its own.
    if (granted && !pv && !held.some((command) => PAGEVIEW.test(command[0]))) held.unshift(["trackPageView"]);
    if (decided || granted) held.splice(0).forEach(take);
  };
  for (const name of EVENTS) addEventListener(name, (event) => consent(event.detail));
  consent(window[BANNER_API]?.get());

  // Single-page apps (opt-in): a pageview on each history navigation to another URL (the hash
  // aside), on the next tick so the app's new title is in place, and once for navigations in the
  // same tick (a redirect: pushState then replaceState); the last page is its referrer.
  if (spa != null) {
    let timer;
    const navigated = () => {
      if (here() == page) return;
      url = title = 0;
      if (granted) {
        referrer = page;
        clearTimeout(timer);
        timer = setTimeout(commands.trackPageView);
      }
      page = here();
    };
    for (const name of ["pushState", "replaceState"]) {
      const original = history[name];
      history[name] = function () {
        original.apply(this, arguments);
        navigated();
      };
    }
    addEventListener("popstate", navigated);
  }
}
