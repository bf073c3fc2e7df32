"""The ingest path for tracking hits: parse, consent gate, filters, geo, user agent, scrub, visit, buffer."""
