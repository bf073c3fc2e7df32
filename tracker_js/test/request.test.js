// Request building: the parameters each command sends, the query string, and which links count.
import assert from "node:assert/strict";
import { test } from "node:test";
import { common, HITS, linkKind, query } from "../src/request.js";

test("the query string leaves out empty values and encodes the rest", () => {
  const built = query({ idsite: "1", urlref: "", e_n: undefined, e_v: null, e_c: "Parts & tools", revenue: 0 });
  assert.equal(built, "idsite=1&e_c=Parts+%26+tools&revenue=0");
  const params = new URLSearchParams(query({ url: "https://www.example.com/suche?q=bremse#x", action_name: "Bremsen – 制动" }));
  assert.equal(params.get("url"), "https://www.example.com/suche?q=bremse#x");
  assert.equal(params.get("action_name"), "Bremsen – 制动");
});

test("every hit is recorded and carries the visitor's local time", () => {
  assert.deepEqual(common(new Date(2026, 10, 21, 9, 5, 7)), { rec: 1, h: 9, m: 5, s: 7 });
});

test("each tracking command sends Matomo's parameters in Matomo's argument order", () => {
  assert.deepEqual(HITS.trackPageView("Brake pads"), { action_name: "Brake pads" });
  assert.deepEqual(HITS.trackEvent("Catalogue", "Add to cart", "Brake pad", 2), {
    e_c: "Catalogue",
    e_a: "Add to cart",
    e_n: "Brake pad",
    e_v: 2,
  });
  assert.deepEqual(HITS.trackSiteSearch("brake pads", "Parts", 12), {
    search: "brake pads",
    search_cat: "Parts",
    search_count: 12,
  });
  assert.deepEqual(HITS.trackGoal(3, 49.9), { idgoal: 3, revenue: 49.9 });
  assert.deepEqual(HITS.trackLink("https://example.org/", "link"), { link: "https://example.org/" });
  assert.deepEqual(HITS.trackLink("https://example.org/x", "download"), { download: "https://example.org/x" });
  assert.equal(query(HITS.trackEvent("Catalogue", "View")), "e_c=Catalogue&e_a=View");
});

// A stand-in for an <a> element: what linkKind reads of it.
const anchor = (href, download = false) => {
  const url = new URL(href);
  return { protocol: url.protocol, hostname: url.hostname, pathname: url.pathname, hasAttribute: () => download };
};

test("links to other hosts are outlinks; www. and the page's own host are not", () => {
  const page = "www.parts.example";
  assert.equal(linkKind(anchor("https://shop.example.org/cart"), page), "link");
  assert.equal(linkKind(anchor("http://other.example/"), page), "link");
  assert.equal(linkKind(anchor("https://parts.example/brakes"), page), false);
  assert.equal(linkKind(anchor("https://www.parts.example/brakes?x=1"), page), false);
  assert.equal(linkKind(anchor("https://www.parts.example/brakes"), "parts.example"), false);
});

test("downloads are known by extension, whatever the case, or by the download attribute", () => {
  const page = "www.parts.example";
  assert.equal(linkKind(anchor("https://www.parts.example/manuals/brakes.PDF"), page), "download");
  assert.equal(linkKind(anchor("https://cdn.example.org/catalogue.xlsx?v=3#sheet"), page), "download");
  assert.equal(linkKind(anchor("https://www.parts.example/export", true), page), "download");
  assert.equal(linkKind(anchor("https://www.parts.example/pdf/brakes"), page), false);
  assert.equal(linkKind(anchor("https://www.parts.example/brakes.pdf.html"), page), false);
});

test("mailto:, tel: and javascript: links are never tracked (they can carry personal data)", () => {
  for (const href of ["mailto:anna@example.com", "tel:+4930123456", "javascript:void(0)", "ftp://files.example/a.zip"]) {
    assert.equal(linkKind(anchor(href), "www.parts.example"), false, href);
  }
});
