#!/bin/sh
# Puts the Docker secrets where ClickHouse's configuration reads them (from_env in users.xml and
# cluster.xml), then runs the clickhouse/clickhouse-server image's own entrypoint, which reads no
# *_FILE variables. The secrets stay out of the mounted XML files, and out of the copies ClickHouse
# writes to /var/lib/clickhouse/preprocessed_configs/ with from_env values filled in: the elements that
# take them carry hide_in_preprocessed="true". They remain in the server's environment.
set -eu

password_file=/run/secrets/clickhouse_password
if [ ! -s "$password_file" ]; then
    # An empty password would open the gateway's user to anyone on the network: refuse to start.
    echo "clickhouse-entrypoint: the secret clickhouse_password ($password_file) is missing or empty" >&2
    exit 1
fi
CONSENT_GATEWAY_CLICKHOUSE_PASSWORD="$(cat "$password_file")"
export CONSENT_GATEWAY_CLICKHOUSE_PASSWORD

# On a cluster node: the secret its nodes share for distributed queries (cluster.xml).
if [ -e /etc/clickhouse-server/config.d/consent-gateway-cluster.xml ]; then
    secret_file=/run/secrets/cluster_secret
    if [ ! -s "$secret_file" ]; then
        echo "clickhouse-entrypoint: the secret cluster_secret ($secret_file) is missing or empty" >&2
        exit 1
    fi
    CONSENT_GATEWAY_CLUSTER_SECRET="$(cat "$secret_file")"
    export CONSENT_GATEWAY_CLUSTER_SECRET
fi

exec /entrypoint.sh "$@"
