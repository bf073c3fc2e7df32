// The gateway's consent API: read the visitor's state and the banner configuration, record a
// decision, export or erase the visitor's data. The consent cookie is HttpOnly and first-party to
// the gateway, so every request carries credentials and the banner never reads or writes a cookie
// of its own.

// path: CONSENT_PATH or DATA_PATH; query: more query parameters, empty values left out (GET's lang,
// DELETE's language and version); file: answer with the body as a Blob (the data export), not JSON.
export function request(base, path, site, method, query, body, file) {
  let url = base + path + "?site=" + encodeURIComponent(site);
  for (const name in query) if (query[name]) url += "&" + name + "=" + encodeURIComponent(query[name]);
  return fetch(url, {
    method,
    credentials: "include",
    headers: body ? { "Content-Type": "application/json" } : {},
    body: body ? JSON.stringify(body) : null,
  }).then((response) =>
    response.ok && file
      ? response.blob()
      : // An error answer is JSON too ({"error": "..."}); its message goes to the console, not the
        // visitor. code "stale": the page was opened before the site's policy or wording changed.
        response.json().then((json) =>
          response.ok ? json : Promise.reject(Object.assign(new Error(json.error || response.status), { code: json.code })),
        ),
  );
}
