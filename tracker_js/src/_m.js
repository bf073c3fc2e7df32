// Entry point: reads the embedding <script>, takes over the _paq queue, and tracks only while the
// banner reports analytics consent. Every hit goes through send(), which refuses without consent.
// Before a decision, calls wait in memory; a refusal drops them. Nothing is ever written to
// cookies or storage, before or after consent (build.mjs refuses a build that could): the
// visitor's identity is the gateway's HttpOnly consent cookie, which the browser attaches to the
// beacon and the tracker never sees.

import { ACTIVITY_EVENTS, ANALYTICS, BANNER_API, EVENTS, HEARTBEAT_SECONDS, MAX_HELD, TRACKING_PATH } from "./constants.js";
import { HITS, linkKind, query } from "./request.js";

const script = document.currentScript;
const queued = window._paq || [];
// Not twice, and not over matomo.js: both turn _paq into an object of their own.
if (script && Array.isArray(queued)) {
  // data-site, data-spa. Hits go to the gateway t.js came from.
  const { site, spa } = script.dataset;
  const endpoint = new URL(TRACKING_PATH, script.src);
  const held = queued.slice(0, MAX_HELD);
  const here = () => location.href.split("#")[0];
  const dimensions = {};
  let granted, decided;
  let hints; // the client hints' JSON, asked for only once analytics is granted
  let pv; // the current pageview's id (later events and pings belong to it); 0 without consent
  let url, title; // setCustomUrl, setDocumentTitle
  let referrer = document.referrer;
  let page = here(); // single-page apps: where the last pageview was
  let last = 0; // when the last hit went out
  let active = 0; // when the visitor last did something (heartbeat)
  let links, beating;

  const send = (fields) => {
    if (!granted) return;
    const hit = {
      idsite: site,
      url: url || location.href,
      urlref: referrer,
      res: screen.width + "x" + screen.height,
      lang: navigator.language,
      pv_id: pv,
      ...dimensions,
      ...fields,
    };
    const date = new Date();
    last = +date;
    // The hints resolve once; chaining every hit on them keeps the hits in order.
    hints.then((uadata) => {
      const target = endpoint + "?" + query({ ...hit, uadata }, date);
      navigator.sendBeacon(target) || fetch(target, { keepalive: true, credentials: "include" });
    });
  };

  const commands = {
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
            const link = event.button < 2 && event.target.closest?.("a[href]");
            const kind = link && linkKind(link, location.hostname);
            if (kind) commands.trackLink(link.href, kind);
          },
          true,
        ),
      )),
    // A ping (it makes the visit's duration right) every `seconds` and when the page is hidden,
    // but only when the visitor did something since the last hit: an abandoned tab does not
    // stretch a visit, and a hidden one sees no activity.
    enableHeartBeatTimer: (seconds) => {
      const ping = () => pv && active > last && send({ ping: 1 });
      beating ||=
        (ACTIVITY_EVENTS.map((name) => addEventListener(name, () => (active = Date.now()), true)),
        addEventListener("visibilitychange", ping),
        setInterval(ping, 1000 * (seconds || HEARTBEAT_SECONDS))); // an interval's id is never 0
    },
  };
  for (const name in HITS) commands[name] = (...args) => send(HITS[name](...args));
  commands.trackPageView = (value) => {
    pv = Date.now().toString(36); // unique among one visitor's pageviews, which is all it needs
    send(HITS.trackPageView(value || title || document.title));
  };

  // Before a decision every call waits, in order. Once the visitor decided against analytics,
  // settings still apply (a later grant on this page uses them) but tracking calls are dropped.
  const take = (command) => {
    {
      if (granted || (decided && !(command[0] in HITS))) commands[command[0]](...command.slice(1));
      else decided || held.length >= MAX_HELD || held.push(command);
    } catch (e) {} // an unknown or malformed command must not break the page
  };
  window._paq = { push: (...pushed) => pushed.forEach(take) };

  // The banner's state (consent_banner/, null until loaded): undecided, waiting calls are kept; a
  // refusal or a withdrawal stops tracking and drops them; a grant replays them, then sends the
  // pageview for this page unless one of them did.
  const consent = (state) => {
    if (!state) return;
    decided = state.decided;
    granted = state.categories.includes(ANALYTICS);
    if (!granted) pv = 0;
    else
      hints ||= Promise.resolve(
        navigator.userAgentData?.getHighEntropyValues(["fullVersionList", "model", "platformVersion"]).then(JSON.stringify),
      ).catch(() => {});
    if (decided || granted) held.splice(0).forEach(take);
    if (granted && !pv) commands.trackPageView();
  };
  for (const name of EVENTS) addEventListener(name, (event) => consent(event.detail));
  consent(window[BANNER_API]?.get());

  // Single-page apps (opt-in): a pageview on each history navigation to another URL (the hash
  // aside), on the next tick so the app's new title is in place; the last page is its referrer.
  if (spa != null) {
    const navigated = () => {
      if (here() == page) return;
      if (granted) {
        referrer = page;
        url = title = 0;
        setTimeout(commands.trackPageView);
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
