// The banner's DOM: the first layer, the settings layer and the floating control, inside an open
// shadow root on <consent-gateway>; focus moves into a layer, is trapped in modal ones and returns
// where it came from. The DOM is built with createElement and textContent only, and the CSS is a
// constructed stylesheet, so a strict CSP (no 'unsafe-inline') and Trusted Types are fine.

import {
  DATA_FILE,
  FOCUSABLE_SELECTOR,
  HOST_TAG,
  LAYER_BANNER,
  LAYER_SETTINGS,
  LOG_PREFIX,
  PREFIX,
  REPROMPT_TEXTS,
} from "./constants.js";

// h("p", "note", ["text", node], {role: "alert"}): classes get the prefix, falsy children are skipped.
function h(tag, classes, children, attrs) {
  const el = document.createElement(tag);
  if (classes) el.className = classes.replace(/\S+/g, PREFIX + "$&");
  for (const name in attrs) if (attrs[name] != null) el.setAttribute(name, attrs[name]);
  el.append(...[children].flat(2).filter(Boolean));
  return el;
}

function icon() {
  const ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  const path = document.createElementNS(ns, "path");
  svg.setAttribute("viewBox", "0 0 24 24");
  svg.setAttribute("aria-hidden", "true");
  // A cookie with a bite out of it.
  path.setAttribute("d", "M12 2a10 10 0 1 0 10 10 4 4 0 0 1-5-5 4 4 0 0 1-5-5M8.5 8.5h0M16 15.5h0M12 12h0M11 17h0M7 14h0");
  svg.append(path);
  return svg;
}

// The element that has focus, looking through shadow roots.
function activeElement() {
  let el = document.activeElement;
  while (el && el.shadowRoot && el.shadowRoot.activeElement) el = el.shadowRoot.activeElement;
  return el;
}

// getState() returns the consent state (GET /consent's answer, updated by decisions); decide(ids)
// records a decision and rejects when it could not be recorded; rights.download() resolves to the
// visitor's data as a Blob, rights.erase() to {erased, consent} once erased.
export function createUI(getState, decide, rights, withFloatingControl) {
  const banner = getState().banner;
  const texts = banner.texts;
  const host = document.createElement(HOST_TAG);
  const shadow = host.attachShadow({ mode: "open" });
  const css = __CSS__; // banner.css, minified and injected by build.mjs
  if (shadow.adoptedStyleSheets) {
    const sheet = new CSSStyleSheet();
    sheet.replaceSync(css);
    shadow.adoptedStyleSheets = [sheet];
  } else {
    shadow.append(h("style", "", css)); // older browsers; blocked by a CSP without 'unsafe-inline'
  }
  const lang = { lang: banner.language || null, dir: banner.dir || null };
  const root = h("div", "root " + banner.theme, [], lang);
  for (const name in lang) if (lang[name]) host.setAttribute(name, lang[name]);
  shadow.append(root);
  document.body.append(host);

  const layers = {}; // open layers by name: {wrap, box, modal, back}
  let busy = false;
  let floating;
  if (withFloatingControl) {
    floating = h("button", "fab", icon(), { "aria-label": texts.reopen, title: texts.reopen });
    floating.onclick = () => show(LAYER_SETTINGS);
    root.prepend(floating); // first in the DOM, so every layer stacks above it
  }
  // The settings layer stands in for the first one, which would otherwise show around it (on a phone,
  // below the dialog) and comes back when the settings close without a decision.
  const sync = () => {
    if (floating) floating.hidden = !!layers[LAYER_BANNER];
    if (layers[LAYER_BANNER]) layers[LAYER_BANNER].wrap.hidden = !!layers[LAYER_SETTINGS];
  };

  // No <form> anywhere in the shadow root, so buttons need no type="button". While a decision is
  // in flight (the layers say aria-busy) their clicks do nothing: no Settings over a pending Accept.
  const button = (label, onClick, classes) => {
    const el = h("button", classes || "btn", label);
    el.onclick = () => busy || onClick();
    return el;
  };
  const setBusy = (on) => {
    busy = on;
    for (const name in layers) layers[name].box.setAttribute("aria-busy", on);
  };

  const restoreFocus = (el) => {
    if (el && el.isConnected && el != document.body && el != document.documentElement) el.focus();
    else if (floating) floating.focus();
  };

  function close(name) {
    const layer = layers[name];
    if (!layer) return;
    layer.wrap.remove();
    delete layers[name];
    sync();
    restoreFocus(layer.back);
  }

  // Runs a request from a layer, which says aria-busy meanwhile; resolves to its answer, or to
  // nothing when it failed, which the layer's error line then says (message).
  async function act(action, error, message) {
    setBusy(true);
    error.textContent = "";
    try {
      return await action();
    } catch (e) {
      error.textContent = message;
      console.warn(LOG_PREFIX, e);
    } finally {
      setBusy(false);
    }
  }

  // Records a decision from a layer; on failure the layer stays open and says so.
  async function choose(ids, error) {
    // The settings layer is modal over the first: a choice comes from the top one.
    const top = layers[LAYER_SETTINGS] ? LAYER_SETTINGS : LAYER_BANNER;
    if (!(await act(() => decide(ids, top), error, texts.error))) return;
    const outer = layers[LAYER_BANNER] || layers[LAYER_SETTINGS]; // none if closed meanwhile
    for (const name in layers) layers[name].wrap.remove(), delete layers[name];
    sync();
    if (outer) restoreFocus(outer.back);
  }

  // A dialog: title, notices and description, a body, an error line, buttons and a close control.
  // body(error) and buttons(error) make their controls, which show a failure in that error line.
  function layer(name, classes, modal, title, description, notices, body, buttons) {
    const id = PREFIX + name;
    const error = h("p", "err", [], { role: "alert" });
    const link = banner.privacy_policy_url && h("a", "", texts.privacy_policy, { href: banner.privacy_policy_url });
    const closer = button("\u00d7", () => close(name), "x");
    closer.setAttribute("aria-label", texts.close);
    const box = h(
      "div",
      "box " + classes,
      [
        h("h2", "", title, { id: id + "-t" }),
        h("div", "", [notices.filter(Boolean).map((text) => h("p", "note", text)), h("p", "", [description, " ", link])], {
          id: id + "-d",
        }),
        body(error),
        error,
        h("div", "btns", buttons(error)),
        closer,
      ],
      {
        role: "dialog",
        "aria-modal": modal ? "true" : null,
        "aria-labelledby": id + "-t",
        "aria-describedby": id + "-d",
        tabindex: "-1",
      },
    );
    const wrap = modal ? h("div", "bd", box) : box;
    layers[name] = { wrap, box, modal, back: activeElement() };
    root.append(wrap);
    sync();
    box.focus();
  }

  function showBanner() {
    const state = getState();
    const all = banner.categories.map((c) => c.id);
    const required = banner.categories.filter((c) => c.required).map((c) => c.id);
    const position = banner.position;
    layer(
      LAYER_BANNER,
      "first " + position,
      position == "center",
      texts.title,
      texts.description,
      [texts[REPROMPT_TEXTS[state.reason]], gpcNotice(state)],
      () => [],
      (error) => [
        button(texts.accept_all, () => choose(all, error)),
        button(texts.reject_all, () => choose(required, error)),
        button(texts.settings, () => show(LAYER_SETTINGS)),
      ],
    );
  }

  function showSettings() {
    const state = getState();
    const consent = state.consent;
    const boxes = [];
    const rows = banner.categories.map((category, i) => {
      const id = PREFIX + "c" + i;
      const input = h("input", "", [], { type: "checkbox", id, "aria-describedby": id + "-d" });
      input.value = category.id;
      input.checked = category.required || state.categories.includes(category.id);
      input.disabled = category.required;
      boxes.push(input);
      const services = category.services || [];
      return h("li", "cat", [
        h("div", "row", [input, h("label", "", category.label, { for: id }), category.required && h("span", "on", texts.always_on)]),
        h("p", "desc", category.description, { id: id + "-d" }),
        services.length && [h("p", "cap", texts.services), h("ul", "svc", services.map((s) => h("li", "", s)))],
      ]);
    });
    const pick = (test) => boxes.filter(test).map((input) => input.value);
    layer(
      LAYER_SETTINGS,
      "set",
      true,
      texts.settings_title,
      texts.settings_description,
      [gpcNotice(state)],
      (error) => [h("ul", "cats", rows), consent && receipt(consent, boxes, error)],
      (error) => [
        button(texts.save, () => choose(pick((input) => input.checked), error)),
        button(texts.accept_all, () => choose(pick(() => true), error), "btn sec"),
        button(texts.reject_all, () => choose(pick((input) => input.disabled), error), "btn sec"),
      ],
    );
  }

  // The receipt of a decision, and the visitor's rights over the data stored under it: download,
  // and erase after an inline confirmation, whose result a polite live region announces.
  function receipt(consent, boxes, error) {
    const id = h("dd");
    const at = h("dd");
    const fill = (c) => {
      id.textContent = c.consent_id;
      at.textContent = date(c.decided_at);
    };
    fill(consent);
    const status = h("p", "note", [], { role: "status" });
    const download = async () => {
      const blob = await act(rights.download, error, texts.download_error);
      if (!blob) return;
      // A same-origin blob: URL, so the download attribute names the file even when the gateway is
      // another origin; the export itself is the gateway's bytes, untouched.
      const name = DATA_FILE + getState().site + "-" + id.textContent + ".json";
      const a = h("a", "", [], { href: URL.createObjectURL(blob), download: name });
      root.append(a); // Firefox before 75 ignores a click on a link outside the document
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(a.href), 6e4);
    };
    const ask = () => {
      status.textContent = "";
      confirm.hidden = false;
      confirm.focus();
    };
    const erase = button(texts.erase_data, ask, "btn sec");
    const cancel = () => {
      confirm.hidden = true;
      erase.focus();
    };
    const confirmed = async () => {
      const answer = await act(rights.erase, error, texts.erase_error);
      if (!answer) return;
      // Now a refusal, as after "Reject all": the checkboxes and the receipt say so.
      for (const input of boxes) input.checked = input.disabled;
      fill(answer.consent);
      cancel();
      status.textContent = texts.erased.replace("{n}", answer.erased);
    };
    // The confirmation is a group named by its warning; focus moves onto it, so a screen reader
    // reads the warning, and Escape or Cancel takes focus back to "Erase my data".
    const confirm = h(
      "div",
      "note",
      [
        h("p", "", texts.erase_warning, { id: PREFIX + "w" }),
        h("div", "btns", [button(texts.erase_confirm, confirmed), button(texts.cancel, cancel, "btn sec")]),
      ],
      { role: "group", "aria-labelledby": PREFIX + "w", tabindex: "-1", hidden: "" },
    );
    confirm.onkeydown = (event) => {
      if (event.key != "Escape") return;
      event.stopPropagation(); // the question closes, not the layer
      if (!busy) cancel();
    };
    return h("div", "rcpt", [
      h("h3", "", texts.receipt),
      h("dl", "", [h("dt", "", texts.consent_id), id, h("dt", "", texts.decided_at), at]),
      h("div", "btns", [button(texts.download_data, download, "btn sec"), erase]),
      confirm,
      status,
    ]);
  }

  // Intl refuses some tags a site may use (RangeError): the browser's own format then.
  const date = (iso) => {
    const at = new Date(iso);
    try {
      return at.toLocaleString(banner.language || undefined);
    } catch {
      return at.toLocaleString();
    }
  };

  const gpcNotice = (state) => state.consent && state.consent.source == "gpc" && texts.gpc_notice;

  function show(name) {
    if (busy) return;
    if (layers[name]) return layers[name].box.focus();
    if (name == LAYER_BANNER) showBanner();
    else showSettings();
  }

  shadow.addEventListener("keydown", (event) => {
    const top = layers[LAYER_SETTINGS] || layers[LAYER_BANNER];
    if (!top) return;
    if (event.key == "Escape") {
      event.stopPropagation();
      close(top == layers[LAYER_SETTINGS] ? LAYER_SETTINGS : LAYER_BANNER);
    } else if (event.key == "Tab" && top.modal) {
      const focusable = top.box.querySelectorAll(FOCUSABLE_SELECTOR);
      const first = focusable[0];
      const last = focusable[focusable.length - 1];
      const active = shadow.activeElement;
      if (event.shiftKey ? active == first || active == top.box : active == last) {
        event.preventDefault();
        (event.shiftKey ? last : first).focus();
      }
    }
  });
  // A click on the backdrop can drop focus onto the page; take it back into the open modal.
  const refocus = (event) => {
    const top = layers[LAYER_SETTINGS] || layers[LAYER_BANNER];
    if (top && top.modal && event.target != host) top.box.focus();
  };
  document.addEventListener("focusin", refocus);

  sync();
  // destroy(): gone without a trace, for a UI rebuilt from a newer configuration.
  show.destroy = () => {
    document.removeEventListener("focusin", refocus);
    host.remove();
  };
  return show;
}
