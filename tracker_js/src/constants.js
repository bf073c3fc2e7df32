// Every name the tracker shares with the page, the banner, the gateway or the build. Nothing else
// lives here. esbuild inlines these, so naming them costs no bytes in t.js.

// The embedding <script> tag's data-* attributes are read in main.js: data-site, data-spa.

// The gateway's neutral tracking path (Matomo Tracking HTTP API parameters), relative to t.js's
// own URL.
export const TRACKING_PATH = "t";

// The banner (consent_banner/): its API object and the DOM events it dispatches on window, with
// detail {decided, categories, consent_id, decided_at, policy_version}.
export const BANNER_API = "ConsentGateway";
export const EVENTS = ["consentgateway:ready", "consentgateway:change"];
export const ANALYTICS = "analytics";

// Calls made before a decision wait in memory, at most this many; a refusal drops them.
export const MAX_HELD = 100;
// The calls that are a page's view: a search results page sends trackSiteSearch instead of
// trackPageView, as with Matomo. With neither among the waiting calls, a grant adds a pageview.
export const PAGEVIEW = /^track(PageView|SiteSearch)$/;

// Links: downloads by file extension (case-insensitive, at the end of the path) or by the
// download attribute; other hosts are outlinks. "www." does not make a host another one.
export const DOWNLOADS = /\.(apk|csv|dmg|docx?|exe|gz|mp[34]|msi|pdf|pptx?|rar|xlsx?|zip)$/i;

// Heartbeat: matomo.js's default, the least time since the last hit for a ping on leaving the page.
export const HEARTBEAT_SECONDS = 15;

// t.js, gzip level 9; build.mjs fails above it.
export const SIZE_BUDGET = 1536;
