// Entry point: reads the embedding <script>, loads the visitor's consent state from the gateway,
// applies it (script gating, Google Consent Mode, matomo.js), shows the banner when the gateway
// asks for it, and exposes window.ConsentGateway and the consentgateway:* DOM events.
//
// Fail closed: when the state cannot be loaded nothing is shown, nothing gated runs, and "ready"
// never fires.

import { request } from "./api.js";
import {
  API_NAME,
  ATTR_GATEWAY,
  ATTR_OPENER,
  ATTR_SETTINGS_BUTTON,
  ATTR_SITE,
  CONSENT_PATH,
  COOKIE_LOST,
  DATA_PATH,
  DOCS,
  DOM_EVENT_PREFIX,
  EVENT_CHANGE,
  EVENT_READY,
  LAYER_SETTINGS,
  LAYER_BANNER,
  LOG_PREFIX,
  NECESSARY,
  OPENER_SELECTOR,
  SCRIPT_FALLBACK_SELECTOR,
  UNREACHABLE,
} from "./constants.js";
import { clearCookies, createGate } from "./gating.js";
import { startIntegrations } from "./integrations.js";
import { createUI } from "./ui.js";

const script = document.currentScript || document.querySelector(SCRIPT_FALLBACK_SELECTOR);
if (script && !window[API_NAME]) start(script);

function start(script) {
  const site = script.getAttribute(ATTR_SITE);
  // The gateway serves banner.js (or banner.<hash>.js) next to /consent.
  const base = (script.getAttribute(ATTR_GATEWAY) || new URL(".", script.src).href).replace(/\/+$/, "");
  const withFloatingControl = script.getAttribute(ATTR_SETTINGS_BUTTON) != "off";
  const applyIntegrations = startIntegrations();
  const gate = createGate();
  const listeners = { [EVENT_READY]: [], [EVENT_CHANGE]: [] };
  let state = null;
  let show = null; // the UI's, once it exists
  let pending = null; // a show() that came before the UI
  let failed = false; // no state: nothing will ever show, so links to the settings keep their href

  const get = () =>
    state && {
      decided: state.decided,
      categories: state.categories.slice(),
      consent_id: state.consent ? state.consent.consent_id : null,
      decided_at: state.consent ? state.consent.decided_at : null,
      policy_version: state.policy_version,
    };

  const call = (fn) => {
    try {
      fn(get());
    } catch (e) {
      console.error(e);
    }
  };

  const emit = (name) => {
    listeners[name].forEach(call);
    window.dispatchEvent(new CustomEvent(DOM_EVENT_PREFIX + name, { detail: get() }));
  };

  // What a decision or an erasure was made on, logged with it (a DELETE has it in the query).
  const shown = () => ({ language: state.banner.language, banner_version: __VERSION__ });

  // The decision lives only in the gateway's SameSite=Lax cookie, which the browser keeps only when
  // the gateway is same-site with the page (and third-party cookies are not blocked): read the state
  // again, and when the cookie did not come back, say why once, or the banner returns on every page
  // with nothing to tell the site owner that it does.
  let warned = false;
  const verify = (id) =>
    request(base, CONSENT_PATH, site, "GET").then((now) => {
      if (!warned && (now.consent || {}).consent_id != id) {
        warned = true;
        const why = "decision recorded, but its cookie did not come back (gateway cross-site?): ";
        console.warn(LOG_PREFIX, why + DOCS + COOKIE_LOST);
      }
    }, () => {});

  // A new receipt, from a decision or an erasure, becomes the state and takes effect on the page.
  function apply(receipt) {
    const granted = receipt.categories;
    state = { ...state, decided: true, show_banner: false, reason: null, categories: granted, consent: receipt };
    // Also clears what an expired or outdated consent left behind, not only what this change removed.
    for (const category of state.banner.categories) if (!granted.includes(category.id)) clearCookies(category.cookies || []);
    applyIntegrations(granted);
    gate(granted);
    emit(EVENT_CHANGE);
    verify(receipt.consent_id);
    return receipt;
  }

  // layer: the one the visitor chose in, reopened when the choice comes too late (see below).
  async function decide(categories, layer) {
    const optional = (ids) => ids.some((id) => id != NECESSARY);
    const banner = state.banner;
    // Choosing nothing after having granted something is a withdrawal.
    const withdraw = state.decided && optional(state.categories) && !optional(categories);
    return apply(
      await request(
        base,
        CONSENT_PATH,
        site,
        withdraw ? "DELETE" : "POST",
        withdraw && shown(),
        !withdraw && {
          categories,
          policy_version: banner.policy_version,
          config_hash: banner.config_hash,
          ...shown(),
          source: "banner",
        },
      ).catch((e) => {
        // The policy or wording changed since this page loaded: ask again with the current one,
        // rather than record a choice made on texts the log could not prove, in the same layer.
        if (e.code == "stale") load(layer);
        throw e;
      }),
    );
  }

  // The visitor's rights: their data as a Blob, and its erasure, which leaves a refusal behind
  // (the gateway sets its cookie), applied exactly as a refusal is. Resolves to {erased, consent}.
  const rights = {
    download: () => request(base, DATA_PATH, site, "GET", 0, 0, 1),
    erase: () =>
      request(base, DATA_PATH, site, "DELETE", shown()).then((answer) => {
        apply(answer.consent);
        return answer;
      }),
  };

  const domReady = new Promise((resolve) =>
    document.readyState == "loading" ? document.addEventListener("DOMContentLoaded", resolve) : resolve(),
  );

  window[API_NAME] = {
    version: __VERSION__,
    show: (name) => {
      const layer = name == LAYER_BANNER ? LAYER_BANNER : LAYER_SETTINGS;
      if (show) show(layer);
      else pending = layer;
    },
    get,
    on: (name, fn) => {
      if (listeners[name]) listeners[name].push(fn);
      if (name == EVENT_READY && state) call(fn);
    },
    off: (name, fn) => {
      if (listeners[name]) listeners[name] = listeners[name].filter((f) => f != fn);
    },
  };

  document.addEventListener("click", (event) => {
    const opener = event.target.closest && event.target.closest(OPENER_SELECTOR);
    if (opener && !failed) {
      event.preventDefault();
      window[API_NAME].show(opener.getAttribute(ATTR_OPENER) || LAYER_SETTINGS);
    }
  });

  // reopen: the layer to show again after a stale decision, if the visitor still has a decision
  // (without one, the first layer shows anyway).
  const load = (reopen) =>
    request(base, CONSENT_PATH, site, "GET", { lang: document.documentElement.lang })
      .then((loaded) => {
        const first = !state;
        state = loaded;
        if (state.decided) applyIntegrations(state.categories);
        gate(state.categories);
        if (first) emit(EVENT_READY);
        return domReady;
      })
      .then(() => {
        gate(state.categories); // elements the parser added after the state arrived
        if (show) show.destroy();
        show = createUI(() => state, decide, rights, withFloatingControl);
        if (state.show_banner || reopen) show(state.show_banner ? LAYER_BANNER : reopen);
        if (pending) show(pending);
        pending = null;
      })
      .catch((e) => {
        failed = !state;
        // Without a state the request failed (the state is set first thing once it answers), and fetch
        // rejects with a TypeError when no answer could be read: most often a CORS refusal (this page's
        // origin is not in the site's origins), which the console shows just above.
        console.warn(LOG_PREFIX, failed && e instanceof TypeError
          ? "could not read " + base + CONSENT_PATH + " (page origin not in the site's origins?): " + DOCS + UNREACHABLE
          : e);
      });
  load();
}
