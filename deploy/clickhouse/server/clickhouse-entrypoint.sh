#!/bin/sh
# Puts the Docker secrets where ClickHouse's configuration reads them (from_env in users.xml and
# cluster.xml), then runs the clickhouse/clickhouse-server image's own entrypoint, which reads no
# *_FILE variables. The secrets stay out of the mounted XML files, and out of the copies ClickHouse
# writes to /var/lib/clickhouse/preprocessed_configs/ with from_env values filled in: the elements that
# take them carry hide_in_preprocessed="true". They remain in the server's environment.
set -eu

# read_secret FILE: the secret's value; the script stops when it is missing or empty (an empty
# password would open the gateway's user to anyone on the network).
read_secret() {
    if [ ! -s "$1" ]; then
        echo "clickhouse-entrypoint: the secret $(basename "$1") ($1) is missing or empty" >&2
        exit 1
    fi
    cat "$1"
}

CONSENT_GATEWAY_CLICKHOUSE_PASSWORD="$(read_secret /run/secrets/clickhouse_password)"
export CONSENT_GATEWAY_CLICKHOUSE_PASSWORD

# On a cluster node: the secret its nodes share for distributed queries (cluster.xml).
if [ -e /etc/clickhouse-server/config.d/consent-gateway-cluster.xml ]; then
    CONSENT_GATEWAY_CLUSTER_SECRET="$(read_secret /run/secrets/cluster_secret)"
    export CONSENT_GATEWAY_CLUSTER_SECRET
fi

exec /entrypoint.sh "$@"
