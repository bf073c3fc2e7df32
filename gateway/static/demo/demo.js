// Shows the visitor's consent on the demo page through the banner's public events.
(function () {
  function show(event) {
    var state = event.detail;
    var text = !state || !state.decided
      ? "No decision yet: nothing about you is stored."
      : "Allowed: " + state.categories.join(", ") + " (consent " + state.consent_id + ").";
    document.getElementById("consent-state").textContent = text;
  }
  window.addEventListener("consentgateway:ready", show);
  window.addEventListener("consentgateway:change", show);
})();
