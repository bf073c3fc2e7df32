// Google Consent Mode v2 and matomo.js: tell the page's own tags what the visitor decided.

import { ANALYTICS, DENIED, GCM_WAIT_FOR_UPDATE_MS, GRANTED, MARKETING } from "./constants.js";

// Exactly what gtag() does: gtag.js reads Arguments objects from the dataLayer and ignores arrays.
function gtag() {
  (window.dataLayer = window.dataLayer || []).push(arguments);
}

const state = (categories, id) => (categories.includes(id) ? GRANTED : DENIED);

// Called once at start, before the visitor's state is known. Returns apply(categories), to call
// once a current decision is known and after every decision.
export function startIntegrations(forceConsentMode) {
  let defaulted = false;
  const pushDefault = () => {
    defaulted = true;
    gtag("consent", "default", {
      ad_storage: DENIED,
      ad_user_data: DENIED,
      ad_personalization: DENIED,
      analytics_storage: DENIED,
      wait_for_update: GCM_WAIT_FOR_UPDATE_MS,
    });
  };
  if (forceConsentMode || window.gtag || window.dataLayer) pushDefault();
  if (window._paq) window._paq.push(["requireConsent"]);

  return (categories) => {
    if (!defaulted && (window.gtag || window.dataLayer)) pushDefault();
    if (defaulted) {
      const marketing = state(categories, MARKETING);
      gtag("consent", "update", {
        analytics_storage: state(categories, ANALYTICS),
        ad_storage: marketing,
        ad_user_data: marketing,
        ad_personalization: marketing,
      });
    }
    if (window._paq) window._paq.push([categories.includes(ANALYTICS) ? "setConsentGiven" : "forgetConsentGiven"]);
  };
}
