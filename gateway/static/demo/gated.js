// Stands for an analytics tag: the banner runs it only once "analytics" is granted.
document.getElementById("analytics-state").textContent =
  "The analytics script ran: you allowed analytics.";
