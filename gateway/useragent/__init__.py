"""The user agent: browser, OS and device class (``parse``, ua-parser's Rust resolver behind a
bounded cache) and which agents are bots, crawlers or headless browsers (``bots``).

Imports nothing of the gateway; ingest, consent and rights import it.
"""
