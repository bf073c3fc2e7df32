// Stands for an analytics tag: the banner runs it only once "analytics" is granted, and at most once
// per page load, so after a withdrawal it has still run: demo.js then says so (demoAnalyticsRan).
window.demoAnalyticsRan = true;
document.getElementById("analytics-state").textContent = "The analytics script ran: you allowed analytics.";
