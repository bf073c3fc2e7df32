// The tracker's consent gating and queue, run in node against a minimal stand-in for the page
// (document, location, navigator, window events): what goes out, and when. The browser tests
// (tests/tracker/) run the real thing in chromium with the real banner and gateway.
import assert from "node:assert/strict";
import { afterEach, test } from "node:test";

let loads = 0;
let beacons, fetched, timers;

// A page at www.parts.example embedding t.js from stats.parts.example; returns what it sent.
async function load({ paq, banner, agentData, beaconWorks = true, spa = false } = {}) {
  beacons = [];
  fetched = [];
  timers = [];
  const events = new EventTarget();
  Object.assign(globalThis, {
    window: globalThis,
    document: {
      currentScript: { dataset: spa ? { site: "1", spa: "" } : { site: "1" }, src: "https://stats.parts.example/t.js" },
      referrer: "https://search.example/?q=brake+pads",
      title: "Brake pads",
      hidden: false,
    },
    location: new URL("https://www.parts.example/brakes?size=17#top"),
    screen: { width: 1920, height: 1080 },
    history: { pushState: () => {}, replaceState: () => {} },
    _paq: paq,
    ConsentGateway: banner,
    addEventListener: events.addEventListener.bind(events),
    dispatchEvent: events.dispatchEvent.bind(events),
    fetch: (url, options) => fetched.push([url, options]),
    setInterval: (fn, ms) => timers.push([fn, ms]),
  });
  Object.defineProperty(globalThis, "navigator", {
    configurable: true,
    value: { language: "de-DE", userAgentData: agentData, sendBeacon: (url) => beaconWorks && beacons.push(url) > 0 },
  });
  await import(`../src/main.js?load=${++loads}`); // a fresh module: a fresh page
}

const settle = () => new Promise((resolve) => setImmediate(resolve));
const hits = () => beacons.map((url) => Object.fromEntries(new URL(url).searchParams));
const decide = async (categories, decided = true, name = "change") => {
  const detail = { decided, categories, consent_id: "c1", decided_at: "2026-11-21T09:00:00Z", policy_version: "1" };
  dispatchEvent(new CustomEvent("consentgateway:" + name, { detail }));
  await settle();
};
const GRANTED = ["necessary", "analytics"];

afterEach(() => {
  delete globalThis._paq;
  delete globalThis.ConsentGateway;
});

test("nothing goes out before a decision; a grant sends this page's pageview, then the queue", async () => {
  await load({ paq: [["enableLinkTracking"], ["trackEvent", "Catalogue", "Open"], ["setCustomDimension", 1, "B2B"]] });
  _paq.push(["trackGoal", 4, 19.9]);
  await decide(["necessary"], false, "ready");
  assert.equal(beacons.length, 0);
  await decide(GRANTED);
  const [pageview, event, goal] = hits();
  assert.deepEqual([event.e_c, event.e_a, goal.idgoal, goal.revenue], ["Catalogue", "Open", "4", "19.9"]);
  assert.ok(beacons.every((url) => url.startsWith("https://stats.parts.example/t?")));
  const { h, m, s, pv_id, ...rest } = pageview;
  assert.deepEqual(rest, {
    rec: "1",
    idsite: "1",
    url: "https://www.parts.example/brakes?size=17#top",
    urlref: "https://search.example/?q=brake+pads",
    res: "1920x1080",
    lang: "de-DE",
    action_name: "Brake pads",
    dimension1: "B2B", // settings apply to the pageview, wherever they were queued
  });
  assert.match(`${h}:${m}:${s}`, /^\d{1,2}:\d{1,2}:\d{1,2}$/);
  assert.match(pv_id, /^[0-9a-z]{1,16}$/);
  assert.deepEqual([event.pv_id, goal.pv_id], [pv_id, pv_id], "the waiting calls belong to the pageview");
  _paq.push(["trackEvent", "Catalogue", "Add to cart", "Brake pad", 2]);
  await settle();
  assert.equal(hits()[3].pv_id, pv_id, "later events belong to the pageview");
});

test("a search results page's site search is its view, as with Matomo: no extra pageview", async () => {
  await load({ paq: [["trackSiteSearch", "brake pads", "Parts", 4]] });
  await decide(GRANTED);
  _paq.push(["trackEvent", "Search", "Filter", "Size 17"]);
  await settle();
  const [search, event] = hits();
  assert.equal(hits().length, 2);
  assert.deepEqual([search.search, search.search_cat, search.search_count], ["brake pads", "Parts", "4"]);
  assert.ok(search.pv_id);
  assert.equal(event.pv_id, search.pv_id);
  assert.equal(search.action_name, undefined);
});

test("a queued trackPageView is the pageview: no second one, with its settings applied in order", async () => {
  await load({
    paq: [["setDocumentTitle", "Pads"], ["setCustomUrl", "/brakes/pads"], ["setCustomDimension", 2, "B2B"], ["trackPageView"]],
  });
  await decide(GRANTED);
  assert.equal(beacons.length, 1);
  const [pageview] = hits();
  assert.deepEqual([pageview.action_name, pageview.url, pageview.dimension2], ["Pads", "https://www.parts.example/brakes/pads", "B2B"]);
});

test("a refusal drops the waiting tracking calls; settings apply if the visitor grants later", async () => {
  await load({ paq: [["setCustomUrl", "/landing"], ["trackEvent", "Catalogue", "Open"], ["trackPageView"]] });
  await decide(["necessary"]);
  _paq.push(["trackEvent", "Catalogue", "Search"]);
  await settle();
  assert.equal(beacons.length, 0);
  await decide(GRANTED);
  assert.deepEqual(
    hits().map((hit) => [hit.url, hit.action_name, hit.e_a]),
    [["https://www.parts.example/landing", "Brake pads", undefined]],
  );
});

test("a withdrawal stops everything at once; a new grant starts with a new pageview", async () => {
  await load();
  await decide(GRANTED);
  await decide(["necessary"]);
  _paq.push(["trackEvent", "Catalogue", "Open"], ["trackPageView"]);
  await settle();
  assert.equal(beacons.length, 1);
  await decide(GRANTED);
  assert.equal(beacons.length, 2);
  assert.ok(hits()[1].action_name);
  await decide(["necessary", "analytics", "marketing"]); // still granted: no extra pageview
  assert.equal(beacons.length, 2);
});

test("a banner that loaded first is read at once", async () => {
  const state = { decided: true, categories: GRANTED, consent_id: "c1", decided_at: "", policy_version: "1" };
  await load({ banner: { get: () => state } });
  await settle();
  assert.equal(hits().length, 1);
});

test("client hints are asked for only after the grant and go with every hit", async () => {
  let asked = 0;
  const agentData = {
    getHighEntropyValues: async (names) => {
      asked++;
      assert.deepEqual(names, ["fullVersionList", "platformVersion"]);
      return { platform: "Windows", platformVersion: "15.0.0", mobile: false };
    },
  };
  await load({ agentData });
  await settle();
  assert.equal(asked, 0);
  await decide(GRANTED);
  _paq.push(["trackGoal", 1, 9.5]);
  await settle();
  assert.equal(asked, 1);
  assert.deepEqual(
    hits().map((hit) => JSON.parse(hit.uadata).platformVersion),
    ["15.0.0", "15.0.0"],
  );
});

test("refused client hints do not hold the hits back", async () => {
  await load({ agentData: { getHighEntropyValues: () => Promise.reject(new Error("NotAllowedError")) } });
  await decide(GRANTED);
  assert.equal(hits().length, 1);
  assert.equal(hits()[0].uadata, undefined);
});

test("without room for a beacon, fetch with keepalive sends the hit with the consent cookie", async () => {
  await load({ beaconWorks: false });
  await decide(GRANTED);
  assert.equal(fetched.length, 1);
  const [url, options] = fetched[0];
  assert.ok(url.startsWith("https://stats.parts.example/t?idsite=1") || url.includes("idsite=1"));
  assert.deepEqual(options, { keepalive: true, credentials: "include" });
});

test("unknown and malformed commands are ignored without breaking the queue", async () => {
  await load({ paq: [["setTrackerUrl", "https://old.example/matomo.php"], ["requireConsent"], null, ["trackEvent", "A", "B"]] });
  _paq.push(["noSuchCommand"], ["setCustomUrl", "http://["], ["trackGoal", 7]);
  await decide(GRANTED);
  assert.deepEqual(
    hits().map((hit) => hit.e_a || hit.idgoal || hit.action_name),
    ["Brake pads", "B", "7"],
  );
});

test("loaded twice, or next to matomo.js, it stays out of the way", async () => {
  await load();
  const ours = globalThis._paq;
  await import(`../src/main.js?load=${++loads}`);
  assert.equal(globalThis._paq, ours);
  await decide(GRANTED);
  assert.equal(beacons.length, 1);
});

test("the heartbeat pings when the visitor leaves the page, if it was open long enough", async () => {
  await load({ paq: [["enableHeartBeatTimer", 0.05], ["enableHeartBeatTimer", 0.05]] });
  await decide(GRANTED);
  const leave = async () => {
    document.hidden = true;
    dispatchEvent(new Event("visibilitychange"));
    await settle();
    document.hidden = false;
  };
  await leave();
  assert.equal(beacons.length, 1, "left at once: no ping");
  await new Promise((resolve) => setTimeout(resolve, 60));
  dispatchEvent(new Event("visibilitychange")); // coming back is no ping either
  await leave();
  const [pageview, heartbeat] = hits();
  assert.equal(hits().length, 2, "one ping, however often the heartbeat was enabled");
  assert.deepEqual([heartbeat.ping, heartbeat.pv_id], ["1", pageview.pv_id]);
});

test("single-page apps: each history navigation is a pageview with the last page as referrer", async () => {
  await load({ spa: true });
  await decide(GRANTED);
  location.href = "https://www.parts.example/brakes/pads";
  history.pushState({}, "", "/brakes/pads");
  await new Promise((resolve) => setTimeout(resolve, 5));
  location.href = "https://www.parts.example/brakes/pads#reviews";
  history.replaceState({}, "", "#reviews"); // the same page
  await new Promise((resolve) => setTimeout(resolve, 5));
  const [, pageview] = hits();
  assert.equal(hits().length, 2);
  assert.deepEqual([pageview.url, pageview.urlref], ["https://www.parts.example/brakes/pads", "https://www.parts.example/brakes?size=17"]);
});

test("a redirect in one tick (pushState, then replaceState) is one pageview; a hash change none", async () => {
  await load({ spa: true });
  await decide(GRANTED);
  location.href = "https://www.parts.example/account";
  history.pushState({}, "", "/account");
  location.href = "https://www.parts.example/login";
  history.replaceState({}, "", "/login");
  await new Promise((resolve) => setTimeout(resolve, 5));
  assert.deepEqual(
    hits().map((hit) => hit.url),
    ["https://www.parts.example/brakes?size=17#top", "https://www.parts.example/login"],
  );
});

test("single-page apps: pages shown before the decision are not replayed, only the page decided on", async () => {
  await load({ spa: true, paq: [["setCustomUrl", "/landing"], ["setDocumentTitle", "Landing"], ["trackPageView"]] });
  for (const path of ["/a", "/b"]) {
    location.href = "https://www.parts.example" + path;
    history.pushState({}, "", path);
    _paq.push(["setDocumentTitle", "Page " + path], ["trackPageView"], ["trackEvent", "Page", "Seen", path]);
  }
  location.href = "https://www.parts.example/checkout";
  history.pushState({}, "", "/checkout");
  await decide(GRANTED);
  assert.deepEqual(
    hits().map((hit) => [hit.url, hit.action_name || hit.e_n]),
    [
      // The last queued pageview (no earlier ones, no earlier events), for the page the visitor is on:
      // the navigation reset the custom URL and title.
      ["https://www.parts.example/checkout", "Brake pads"],
      ["https://www.parts.example/checkout", "/b"],
    ],
  );
});

test("Matomo's loader with t.js in place of matomo.js: setSiteId names the site", async () => {
  await load({ paq: [["setTrackerUrl", "https://stats.parts.example/matomo.php"], ["setSiteId", "7"], ["trackPageView"]] });
  document.currentScript = null;
  await decide(GRANTED);
  assert.equal(hits()[0].idsite, "7");
});

test("Matomo's false for an unknown search category and count is left out, not sent as false", async () => {
  await load({ paq: [["trackSiteSearch", "bremsbeläge", false, false], ["trackEvent", "Cart", "Total", "Order", NaN]] });
  await decide(GRANTED);
  const [search, event] = hits();
  assert.deepEqual(search.search, "bremsbeläge");
  assert.ok(!("search_cat" in search) && !("search_count" in search));
  assert.ok(!("e_v" in event));
});
