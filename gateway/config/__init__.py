"""Configuration as data: settings, sites, and each site's consent configuration and texts.

``fields`` declares every setting once (type, default, environment variable, help), which feeds the
TOML and environment loader (``settings``), ``check-config``, the CLI and the generated reference;
``sites`` holds the sites (id, origins, tokens, time zone); ``consent`` the categories, policy version
and defaults per region; ``texts`` the banner wording per language. ``errors`` collects every problem
of a configuration so that one run reports them all; ``tables`` reads typed values from TOML tables.

May import ``gateway.storage.clickhouse`` (the storage URL's parsing) and nothing else of the gateway:
every other package reads its configuration from here.
"""
