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
  const current = tabs.find((tab) => tab.getAttribute("aria-selected") === "true") || tabs[0];
  select(tabs, current);

  // stay: the card's first load, right after the page: on failure it offers the report page
  // instead of leaving the dashboard.
  async function activate(tab, stay = false) {
    const url = tab.getAttribute(FRAGMENT_ATTR);
    if (!url) return void (stay || (location.href = tab.href));
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
      if (!stay) return void (location.href = tab.href); // the full report page still works
      if (ticket !== latest) return;
      const link = document.createElement("a");
      link.href = tab.href;
      link.textContent = `Could not load this card: open ${tab.textContent.trim()}`;
      const note = document.createElement("p");
      note.className = "empty";
      note.append(link);
      panel.replaceChildren(note);
      panel.removeAttribute("aria-busy");
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
  if (panel.hasAttribute("data-autoload")) activate(current, true);
}

export function initTabs() {
  for (const card of document.querySelectorAll(TABS_SELECTOR)) setUp(card);
}
