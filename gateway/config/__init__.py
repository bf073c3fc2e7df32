"""Configuration as data: settings, sites, and each site's consent configuration and texts.

``settings`` declares every setting once (type, default, environment variable, help), which feeds the
TOML and environment loader, ``check-config``, the CLI and the generated reference; ``sites`` holds the
sites (id, origins, tokens, time zone); ``consent`` the categories, policy version and defaults per
region; ``texts`` the banner wording per language.

May import ``gateway.storage.clickhouse`` (the storage URL's parsing) and nothing else of the gateway:
every other package reads its configuration from here.
"""
