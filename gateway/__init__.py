"""consent-gateway: a self-hosted, first-party cookie-consent and analytics gateway."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("consent-gateway")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+unknown"
