#!/bin/sh
# The one-shot `schema` service of compose.cluster.yml: applies deploy/clickhouse/cluster/*.sql as
# docs/deploy.md ("Applying it") says, from one node, with the gateway's own user. Each file records
# its version as `consent-gateway migrate` would, so the gateways (GATEWAY_MIGRATE_ON_START=false)
# find the schema applied, and this script skips the versions already recorded: it runs at every
# `docker compose up`, and a migration's MATERIALIZE INDEX would rewrite the whole table each time.
set -eu

node="${CLUSTER_SCHEMA_NODE:-ch-s1r1}"
cluster="${CLUSTER_NAME:-consent_gateway}"
database="${CLUSTER_DATABASE:-gateway}"
schema="${CLUSTER_SCHEMA_DIR:-/consent-gateway/schema}"
password_file="${CLUSTER_PASSWORD_FILE:-/run/secrets/clickhouse_password}"

CLICKHOUSE_PASSWORD="$(cat "$password_file")"
export CLICKHOUSE_PASSWORD
# The password through a client configuration that reads it from the environment: not on a command
# line, where `ps` would show it.
config="$(mktemp)"
trap 'rm -f "$config"' EXIT
printf '<config><user>gateway</user><password from_env="CLICKHOUSE_PASSWORD"/></config>\n' >"$config"

client() {
    clickhouse-client --config-file "$config" --host "$node" "$@"
}

client --query "CREATE DATABASE IF NOT EXISTS $database ON CLUSTER $cluster"
applied=""
for file in "$schema"/*.sql; do
    name="$(basename "$file")"
    case " $applied " in
        *" ${name%%_*} "*)
            echo "already applied: $name"
            continue
            ;;
    esac
    echo "applying $name"
    client --database "$database" --multiquery <"$file"
    # Read after each file: 0000 makes the table the others record themselves in.
    applied="$(client --database "$database" --query \
        "SELECT arrayStringConcat(arraySort(groupArray(leftPad(toString(version), 4, '0'))), ' ')
         FROM schema_migrations FINAL")"
done
echo "cluster schema up to date on $cluster, database $database"
