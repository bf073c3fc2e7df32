"""HTTP plumbing every endpoint shares, with no knowledge of consent, hits or dashboards.

Owns the server (uvicorn set-up: ``server``), the client address behind declared proxies (``proxy``;
``forwarding`` parses the forwarding headers), origins allowed per site (``cors``), reading request
bodies into a counted drop instead of a traceback (``bodies``), the JSON 503 with ``Retry-After``
while ClickHouse is down (``unavailable``), the access log (``accesslog``), fingerprinted static files
(``assets``) and log lines bounded per key (``warn_once``: a request's own words never flood the log).

May import ``gateway.config`` and ``gateway.storage`` only; the domain packages and the edges import
it.
"""
