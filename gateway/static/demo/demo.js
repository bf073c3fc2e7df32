// Shows the visitor's consent on the demo page through the banner's public API and events, and
// makes the tracker calls a Matomo snippet would, through the _paq queue (t.js runs them only once
// analytics is granted, and drops them on a refusal).
(function () {
  function show(state) {
    var text = !state || !state.decided
      ? "No decision yet: nothing about you is stored."
      : "Allowed: " + state.categories.join(", ") + " (consent " + state.consent_id + ").";
    document.getElementById("consent-state").textContent = text;
    // A script that ran keeps running until the page reloads: after a withdrawal the two lines
    // must not read "analytics ran" next to "allowed: necessary" without saying which is now.
    if (window.demoAnalyticsRan && state) {
      document.getElementById("analytics-state").textContent = state.categories.indexOf("analytics") < 0
        ? "The analytics script ran earlier on this page, before you withdrew analytics: the tracker " +
          "sends nothing more, and the script is gone once you reload or leave the page."
        : "The analytics script ran: you allowed analytics.";
    }
  }
  function fromEvent(event) {
    show(event.detail);
  }
  window.addEventListener("consentgateway:ready", fromEvent);
  window.addEventListener("consentgateway:change", fromEvent);
  // banner.js is async: its state may have arrived (and "ready" fired) before this deferred script ran.
  if (window.ConsentGateway && ConsentGateway.get()) show(ConsentGateway.get());

  // t.js is async too: until it runs, _paq is a plain array it takes over when it starts, so
  // every call goes through window._paq as it is at that moment, never through a kept reference.
  function track(command) {
    (window._paq = window._paq || []).push(command);
  }
  track(["enableLinkTracking"]);
  var query = new URLSearchParams(location.search).get("q");
  if (query) track(["trackSiteSearch", query]);
  document.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest("button[data-part]");
    if (!button) return;
    track(["trackEvent", "Basket", "Add", button.getAttribute("data-part")]);
    button.textContent = "Added";
  });
})();
