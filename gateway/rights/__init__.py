"""Visitors' rights: every decision enforced on the server, access, portability, erasure, retention.

Owns the consent ledger (the latest decision per consent id, which supersedes older cookies on every
instance), exports and erasures of one visitor's data, their audit trail, the retention and proof
periods, and the generated privacy notice. May import ``gateway.consent.cookie``, ``gateway.storage`` and
``gateway.config.sites``; the HTTP endpoints and the CLI import it, never the other way round.
"""
