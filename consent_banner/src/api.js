// The gateway's consent API: read the visitor's state and the banner configuration, record a
// decision. The consent cookie is HttpOnly and first-party to the gateway, so every request
// carries credentials and the banner never reads or writes a cookie of its own.

export function request(base, site, method, body) {
  const lang = document.documentElement.lang;
  let url = base + "/consent?site=" + encodeURIComponent(site);
  if (method == "GET" && lang) url += "&lang=" + encodeURIComponent(lang);
  return fetch(url, {
    method,
    credentials: "include",
    headers: body ? { "Content-Type": "application/json" } : {},
    body: body ? JSON.stringify(body) : null,
  }).then((response) =>
    // An error answer is JSON too ({"error": "..."}); its message goes to the console, not the visitor.
    // code "stale": the page was opened before the site's policy or wording changed.
    response.json().then((json) =>
      response.ok ? json : Promise.reject(Object.assign(new Error(json.error || response.status), { code: json.code })),
    ),
  );
}
