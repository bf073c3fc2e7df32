// Google Consent Mode v2 and matomo.js: tell the page's own tags what the visitor decided.

import { ANALYTICS, DENIED, GCM_WAIT_FOR_UPDATE_MS, GRANTED, LOG_PREFIX, MARKETING } from "./constants.js";

// Exactly what gtag() does: gtag.js reads Arguments objects from the dataLayer and ignores arrays.
// A page whose dataLayer is not an array must not stop the banner.
function gtag() {
  try {
    (window.dataLayer = window.dataLayer || []).push(arguments);
  } catch (e) {
    console.warn(LOG_PREFIX, e);
  }
}

const state = (categories, id) => (categories.includes(id) ? GRANTED : DENIED);

// Called once at start, before the visitor's state is known. Returns apply(categories), to call
// once a current decision is known and after every decision.
export function startIntegrations() {
  // The default must come before any tag is configured; a banner.js loaded with async (or after the
  // gtag snippet) is too late for the tags already queued, so say so once.
  const queued = window.dataLayer;
  if (Array.isArray(queued) && queued.some((entry) => entry && (entry[0] == "config" || entry[0] == "event"))) {
    console.warn(LOG_PREFIX, "consent default after gtag config: load banner.js first, without async");
  }
  // Always, even before any gtag or dataLayer exists: gtag.js reads the queue when it loads.
  gtag("consent", "default", {
    ad_storage: DENIED,
    ad_user_data: DENIED,
    ad_personalization: DENIED,
    analytics_storage: DENIED,
    wait_for_update: GCM_WAIT_FOR_UPDATE_MS,
  });
  if (window._paq) window._paq.push(["requireConsent"]);
  let measured = false; // analytics granted on this page, so matomo.js may hold a consent to forget

  return (categories) => {
    const marketing = state(categories, MARKETING);
    const analytics = categories.includes(ANALYTICS);
    gtag("consent", "update", {
      analytics_storage: analytics ? GRANTED : DENIED,
      ad_storage: marketing,
      ad_user_data: marketing,
      ad_personalization: marketing,
    });
    // forgetConsentGiven writes matomo.js's long-lived mtm_consent_removed cookie: only on a real
    // withdrawal, never for a visitor who did not grant.
    if (window._paq && (analytics || measured)) window._paq.push([analytics ? "setConsentGiven" : "forgetConsentGiven"]);
    measured = analytics;
  };
}
