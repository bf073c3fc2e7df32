// Card tabs: a tab is a link to the full report, so without the script it simply navigates. With
// it, a click fetches the tab's card body (data-fragment) and swaps it into the tabpanel; the
// arrow keys, Home and End move between tabs (WAI-ARIA tabs with manual activation).

import { FRAGMENT_ATTR, TABS_SELECTOR } from "./constants.js";
import { applyShares } from "./bars.js";
import { nextTabIndex } from "./format.js";

async function fetchFragment(url) {
  const response = await fetch(url, { credentials: "same-origin", headers: { Accept: "text/html" } });
  // A redirect (to the login page, say) is no card body: the caller opens the report page instead.
  if (!response.ok || response.redirected) throw new Error(`${response.status}`);
  // Parsed into inert nodes and moved over: no HTML string is ever assigned to the live page.
  return new DOMParser().parseFromString(await response.text(), "text/html").body.childNodes;
}

function select(tabs, chosen) {
  for (const tab of tabs) {
    const on = tab === chosen;
    tab.setAttribute("aria-selected", String(on));
    tab.tabIndex = on ? 0 : -1;
  }
}

function setUp(card) {
  const tabs = [...card.querySelectorAll('[role="tab"]')];
  const panel = card.querySelector('[role="tabpanel"]');
  if (!tabs.length || !panel) return;
  let latest = 0; // a slow answer for an earlier click must not overwrite a later one
  select(tabs, tabs.find((tab) => tab.getAttribute("aria-selected") === "true") || tabs[0]);

  async function activate(tab) {
    const url = tab.getAttribute(FRAGMENT_ATTR);
    if (!url) return void (location.href = tab.href);
    const ticket = ++latest;
    select(tabs, tab);
    panel.setAttribute("aria-labelledby", tab.id);
    panel.setAttribute("aria-busy", "true");
    try {
      const nodes = await fetchFragment(url);
      if (ticket !== latest) return;
      panel.replaceChildren(...nodes);
      applyShares(panel);
      panel.removeAttribute("aria-busy");
    } catch {
      location.href = tab.href; // the full report page still works
    }
  }

  for (const tab of tabs) {
    tab.addEventListener("click", (event) => {
      if (event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
      event.preventDefault();
      activate(tab);
    });
    tab.addEventListener("keydown", (event) => {
      if (event.key === " ") {
        event.preventDefault();
        activate(tab);
        return;
      }
      const next = nextTabIndex(event.key, tabs.indexOf(tab), tabs.length);
      if (next === null) return;
      event.preventDefault();
      tabs[next].focus();
    });
  }
}

export function initTabs() {
  for (const card of document.querySelectorAll(TABS_SELECTOR)) setUp(card);
}
