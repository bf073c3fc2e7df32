// Every name the banner shares with the page, the server or the build: DOM attributes, events,
// selectors, category ids, the CSS class prefix and the size budget. Nothing else lives here.

// The embedding <script> tag.
export const ATTR_SITE = "data-site";
export const ATTR_GATEWAY = "data-gateway";
export const ATTR_SETTINGS_BUTTON = "data-settings-button"; // "off": no floating control
export const SCRIPT_FALLBACK_SELECTOR = "script[data-site]";

// The page: any element with this attribute opens the settings layer on click.
export const ATTR_OPENER = "data-consent-settings";
export const OPENER_SELECTOR = "[" + ATTR_OPENER + "]";

// Gated elements: <script type="text/plain" data-consent="analytics" data-src="...">, and
// <iframe>/<img> with data-consent and data-src.
export const ATTR_CONSENT = "data-consent";
export const ATTR_SRC = "data-src";
export const GATED_SELECTOR =
  'script[type="text/plain"][' + ATTR_CONSENT + "],iframe[" + ATTR_CONSENT + "],img[" + ATTR_CONSENT + "]";

// The gateway's endpoints, and the name a data export is saved under (the server's own, which a
// cross-origin fetch cannot read from Content-Disposition): consent-data-<site>-<consent id>.json.
export const CONSENT_PATH = "/consent";
export const DATA_PATH = "/consent/data";
export const DATA_FILE = "consent-data-";

// The public API: window.ConsentGateway, its events and their DOM twins on window.
export const API_NAME = "ConsentGateway";
export const EVENT_READY = "ready";
export const EVENT_CHANGE = "change";
export const DOM_EVENT_PREFIX = "consentgateway:";

// The banner's DOM: a host element holding an open shadow root; classes inside it carry a prefix.
export const HOST_TAG = "consent-gateway";
export const PREFIX = "cg-";
export const LAYER_BANNER = "banner";
export const LAYER_SETTINGS = "settings";
export const LOG_PREFIX = "consent-gateway:";
// The project's documentation, which console warnings link to.
export const DOCS = "https://github.com/consent-gateway/consent-gateway/blob/main/docs/";
export const COOKIE_LOST = "embed.md#the-banner-comes-back-on-every-page";
export const UNREACHABLE = "embed.md#nothing-shows-and-the-console-shows-a-cors-error";
export const FOCUSABLE_SELECTOR = "a[href],button:not([disabled]),input:not([disabled])";

// Category ids with a meaning of their own (the server's NECESSARY, and the integrations' inputs).
export const NECESSARY = "necessary";
export const ANALYTICS = "analytics";
export const MARKETING = "marketing";

// GET /consent's reason -> the text key of the notice shown in the first layer.
export const REPROMPT_TEXTS = {
  "policy-changed": "policy_changed",
  expired: "expired",
  "regime-changed": "regime_changed",
};

// Google Consent Mode v2 and matomo.js.
export const GCM_WAIT_FOR_UPDATE_MS = 500;
export const GRANTED = "granted";
export const DENIED = "denied";

// banner.js (JS and CSS together), gzip level 9; build.mjs fails above it.
export const SIZE_BUDGET = 6400;
