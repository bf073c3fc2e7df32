// Script gating and cookie clearing: the page marks what needs consent, the banner runs it once
// granted and removes the cookies of categories that are not.

import { ATTR_CONSENT, ATTR_SRC, GATED_SELECTOR, LOG_PREFIX } from "./constants.js";

// A script only runs when the parser or the DOM inserts it as a new element. Resolves once it has
// run: an external one at its load (or error), so the next waits for it, as under the parser.
function run(el, src) {
  const script = document.createElement("script");
  for (const attr of el.attributes) {
    if (attr.name != "type" && attr.name != ATTR_CONSENT && attr.name != ATTR_SRC) {
      script.setAttribute(attr.name, attr.value);
    }
  }
  script.nonce = el.nonce; // the nonce attribute reads as "" once the browser has hidden it
  script.text = el.text;
  return new Promise((resolve) => {
    if (src) {
      script.onload = script.onerror = resolve;
      script.src = src;
    }
    if (el.parentNode) el.replaceWith(script);
    if (!src || !script.isConnected) resolve();
  });
}

// Returns gate(granted): activates every marked element whose categories are all granted, each
// element at most once, scripts one after the other in document order.
export function createGate() {
  const done = new WeakSet();
  let queue = Promise.resolve();
  return (granted) => {
    for (const el of document.querySelectorAll(GATED_SELECTOR)) {
      const needs = el.getAttribute(ATTR_CONSENT).split(/\s+/).filter(Boolean);
      if (done.has(el) || (needs.length && !needs.every((id) => granted.includes(id)))) continue;
      done.add(el);
      // Fail closed: a blank data-consent (a typo, a template left empty) never runs.
      if (!needs.length) {
        console.warn(LOG_PREFIX, "blank " + ATTR_CONSENT + ", never activated:", el);
        continue;
      }
      const src = el.getAttribute(ATTR_SRC);
      if (el.tagName == "SCRIPT") queue = queue.then(() => run(el, src));
      else if (src) el.src = src;
    }
  };
}

// Expires every cookie whose name matches one of the patterns ("_ga", or "_ga_*" for a prefix), for
// path=/ on this host and on each parent domain, since the cookie may have been set on any of them.
export function clearCookies(patterns) {
  const labels = location.hostname.split(".");
  for (const pair of document.cookie.split(";")) {
    const name = pair.split("=")[0].trim();
    const matches = patterns.some((p) => (p.endsWith("*") ? name.startsWith(p.slice(0, -1)) : name == p));
    if (!name || !matches) continue;
    for (let i = 0; i < labels.length; i++) {
      const domain = i ? "; domain=." + labels.slice(i - 1).join(".") : "";
      document.cookie = name + "=; Max-Age=0; path=/" + domain;
    }
  }
}
