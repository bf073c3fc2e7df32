"""City-level geography from an IP address, and the databases that make it possible.

``lookup`` reduces an address to country, region and city (never finer, and never kept: the address is
dropped by the caller right after); ``fetch`` downloads a city database (DB-IP Lite or MaxMind
GeoLite2) and ``install`` verifies and installs it atomically, with its licence and attribution.

Imports nothing of the gateway; ingest, consent and the CLI import it.
"""
