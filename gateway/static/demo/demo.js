// Shows the visitor's consent on the demo page through the banner's public API and events.
(function () {
  function show(state) {
    var text = !state || !state.decided
      ? "No decision yet: nothing about you is stored."
      : "Allowed: " + state.categories.join(", ") + " (consent " + state.consent_id + ").";
    document.getElementById("consent-state").textContent = text;
  }
  function fromEvent(event) {
    show(event.detail);
  }
  window.addEventListener("consentgateway:ready", fromEvent);
  window.addEventListener("consentgateway:change", fromEvent);
  // banner.js is async: its state may have arrived (and "ready" fired) before this deferred script ran.
  if (window.ConsentGateway && ConsentGateway.get()) show(ConsentGateway.get());
})();
