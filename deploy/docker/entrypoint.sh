#!/bin/sh
# The image's entrypoint (deploy/docker/Dockerfile): gets the GeoIP database in place before `serve`,
# then becomes the gateway (exec), so the SIGTERM of `docker stop` or Kubernetes reaches it from tini.
#
# Arguments are a consent-gateway command (`serve ...`, `migrate`, `check-config`, `users add ...`);
# options alone (`--workers 2`) are serve's, after the CMD's `--host 0.0.0.0 --port 8000`: serve's own
# default, 127.0.0.1, could not be reached from outside the container, though the HEALTHCHECK (from
# inside) would pass. A --host or --port among the options still wins: the last one given counts.
# Settings stay the gateway's own (GATEWAY_*, *_FILE for secrets, GATEWAY_CONFIG): nothing here reads
# or rewrites them. This script's own variables are CONSENT_GATEWAY_*, since the gateway refuses
# unknown GATEWAY_* names:
#   CONSENT_GATEWAY_GEOIP_SOURCE  geolite2 (default) or dbip: the city database `serve` installs into
#                                 GATEWAY_DATA_DIR/geoip when none is there; none: never download one
#   CONSENT_GATEWAY_GEOIP_SEED    a folder whose city.mmdb (and city.mmdb.json) is copied in first
#                                 (default /usr/share/consent-gateway/geoip, filled by the build
#                                 argument GEOIP_SOURCE)
set -eu
umask 077

case "${1:-}" in
    "" | -*) set -- serve --host 0.0.0.0 --port 8000 "$@" ;;
esac

# Into the data folder, where the gateway looks unless GATEWAY_GEOIP_CITY_DB names another file; never
# over a database already there (`geoip install --version latest` may have updated it since).
seed_geoip() {
    target="$1/geoip"
    if [ ! -f "$2/city.mmdb" ] || [ -e "$target/city.mmdb" ]; then
        return 0
    fi
    mkdir -p "$target"
    # A copy beside the target, then a rename: another replica on the same volume may be reading.
    cp "$2/city.mmdb" "$target/.city.mmdb.seed"
    mv "$target/.city.mmdb.seed" "$target/city.mmdb"
    if [ -f "$2/city.mmdb.json" ]; then
        cp "$2/city.mmdb.json" "$target/.city.mmdb.json.seed"
        mv "$target/.city.mmdb.json.seed" "$target/city.mmdb.json"
    fi
    echo "consent-gateway-entrypoint: GeoIP database copied from $2" >&2
}

if [ "$1" = serve ]; then
    seed_geoip "${GATEWAY_DATA_DIR:-/var/lib/consent-gateway}" \
        "${CONSENT_GATEWAY_GEOIP_SEED:-/usr/share/consent-gateway/geoip}"
    source="${CONSENT_GATEWAY_GEOIP_SOURCE:-geolite2}"
    if [ "$source" != none ]; then
        # Its report is plain text: kept out of a JSON log's stream; its errors still show.
        if [ "${GATEWAY_LOG_FORMAT:-text}" = json ]; then report=/dev/null; else report=/dev/stderr; fi
        # A registry outage must not keep the gateway down: it serves without geography meanwhile
        # (health: degraded) and takes up a database installed later without a restart.
        consent-gateway geoip install --if-missing --source "$source" >"$report" \
            || echo "consent-gateway-entrypoint: no GeoIP database installed; serving without geography" >&2
    fi
fi

exec consent-gateway "$@"
