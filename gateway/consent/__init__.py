"""Consent: the signed cookie and the server-side gate, the consent API, the consent log.

``cookie`` reads and signs the consent cookie and answers "may this visitor be tracked?" (the gate
every hit passes); ``log`` writes and reads ``consent_log``, the proof of who chose what under which
policy and wording; ``budget`` bounds what a cookie-less client can write. The edges built on them:
``api`` (``/consent``), which reads each request into a ``visit``, has decisions logged durably by
``record`` and names misconfigured pages in the log (``origins``); ``proof`` (``/api/consents/ID``);
``operations`` (the CLI's ``consent.*`` operations) and ``commands`` (``consent show``, printing them).

The domain modules may import ``gateway.config``, ``gateway.storage`` and ``gateway.monitoring.counters``;
the edges may also import ``gateway.web``, ``gateway.geoip``, ``gateway.useragent`` and
``gateway.rights.ledger`` (a decision supersedes older cookies on every instance). What a site
configures (categories, policy version, wording) lives in ``gateway.config``, which the settings
load, so that configuration never imports a domain package.
"""
