"""The ingest path for tracking hits: parse, consent gate, filters, geo, user agent, scrub, buffer.

The stages, in the order a hit meets them: ``transport`` reads the request (query, body, bulk),
``hit`` parses each Matomo hit, ``pipeline`` runs the consent gate (``gateway.consent.cookie``),
filters, geography, user agent, ``referrer`` and ``scrub`` (its rules as data in ``scrub_rules``)
and builds the row; ``endpoint`` answers once the rows are durable; ``outcomes`` names every drop.

The stages may import ``gateway.consent`` (the cookie and its gate), ``gateway.geoip``,
``gateway.useragent``, ``gateway.config``, ``gateway.storage``, ``gateway.monitoring.counters`` and
``gateway.web``; ``endpoint`` and ``transport`` are the edge, imported by the app.
"""
