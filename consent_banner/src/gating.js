// Script gating and cookie clearing: the page marks what needs consent, the banner runs it once
// granted and removes the cookies of categories that are not.

import { ATTR_CONSENT, ATTR_SRC, GATED_SELECTOR } from "./constants.js";

// Returns gate(granted): activates every marked element whose categories are all granted, each
// element at most once.
export function createGate() {
  const done = new WeakSet();
  return (granted) => {
    for (const el of document.querySelectorAll(GATED_SELECTOR)) {
      const needs = el.getAttribute(ATTR_CONSENT).split(" ").filter(Boolean);
      if (done.has(el) || !needs.every((id) => granted.includes(id))) continue;
      done.add(el);
      const src = el.getAttribute(ATTR_SRC);
      if (el.tagName != "SCRIPT") {
        if (src) el.src = src;
        continue;
      }
      // A script only runs when the parser or the DOM inserts it as a new element.
      const script = document.createElement("script");
      for (const attr of el.attributes) {
        if (attr.name != "type" && attr.name != ATTR_CONSENT && attr.name != ATTR_SRC) {
          script.setAttribute(attr.name, attr.value);
        }
      }
      script.nonce = el.nonce; // the nonce attribute reads as "" once the browser has hidden it
      if (src) script.src = src;
      script.async = false; // run in document order, like the parser would
      script.text = el.text;
      el.replaceWith(script);
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
