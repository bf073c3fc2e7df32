"""The migrations for a ClickHouse cluster: replicated local tables, and Distributed ones for events.

The single-server migrations (``schema.MIGRATIONS``) are rewritten statement by statement, so the
cluster schema cannot drift from the one the tests exercise:

- ``events`` is sharded. Its rows live in ``events_local`` (``ReplicatedMergeTree``, one replica
  path per shard), and ``events`` becomes a ``Distributed`` table over them, which the gateway writes
  to and reads from by the same name. The sharding key ``cityHash64(site_id, visitor_id)`` keeps a
  visitor's hits on one shard: visits are cut per visitor at query time (gateway/stats/visits.py),
  so each shard computes whole visits and only the sums cross the network. The trade-off: one
  visitor with a huge history loads one shard, and moving a visitor between shards is a reshard.
- ``consent_log``, ``consent_configs``, ``rights_requests`` and ``schema_migrations`` are small and
  read by consent id or site on every instance (the ledger sync every 0.5 s, the proof, the rights
  requests), so they are not sharded: one replica path for the whole cluster keeps a full copy on
  every node, and a decision is visible wherever it is read.
- ``ALTER`` statements run ``ON CLUSTER`` on the table that holds the rows; a column change also
  runs on the ``Distributed`` table, whose columns must match.

``non_replicated_deduplication_window`` becomes ``replicated_deduplication_window``: the writer's
deduplication token then guards the replicated inserts the same way. Nothing here runs against a
cluster in the tests (no ClickHouse server installs on these machines): every statement is parsed
by ClickHouse's own parser (``formatQuery``) instead, and docs/deploy.md's checklist is done by hand.
"""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

from gateway.storage.clickhouse import DEFAULT_DATABASE, LOCAL_SUFFIX, SHARDING_KEYS, Database, check_name
from gateway.storage.migrations import MigrationError, MigrationReport, checksum, migrate, pending, write_sql
from gateway.storage.schema import MIGRATIONS, MIGRATIONS_TABLE, Migration

CREATE = re.compile(r"CREATE TABLE IF NOT EXISTS (\w+)\s*\n")
ALTER = re.compile(r"ALTER TABLE (\w+) ")
ENGINE = re.compile(r"ENGINE = (\w*)MergeTree(\(([^)]*)\))?")
COLUMN_CHANGE = re.compile(r"^(ADD|DROP|MODIFY|RENAME|COMMENT) COLUMN ")


def _replicated(statement: str, table: str, *, sharded: bool) -> str:
    """``statement``'s engine as its replicated twin: one replica path per shard, or one for all."""
    path = f"/clickhouse/tables/{{shard}}/{{database}}/{table}" if sharded else \
        f"/clickhouse/tables/all/{{database}}/{table}"

    def engine(match: re.Match[str]) -> str:
        kind, arguments = match.group(1), match.group(3)
        extra = f", {arguments}" if arguments else ""
        return f"ENGINE = Replicated{kind}MergeTree('{path}', '{{replica}}'{extra})"

    replaced = ENGINE.sub(engine, statement, count=1)
    return replaced.replace("non_replicated_deduplication_window", "replicated_deduplication_window")


def _create(statement: str, table: str, cluster: str, database: str) -> list[str]:
    on = f" ON CLUSTER {cluster}"
    if table not in SHARDING_KEYS:
        head = f"CREATE TABLE IF NOT EXISTS {table}{on}\n"
        return [_replicated(CREATE.sub(head, statement, count=1), table, sharded=False)]
    local = table + LOCAL_SUFFIX
    head = f"CREATE TABLE IF NOT EXISTS {local}{on}\n"
    return [_replicated(CREATE.sub(head, statement, count=1), local, sharded=True),
            # Named, not currentDatabase(): each node runs the statement in its own default database.
            f"CREATE TABLE IF NOT EXISTS {table}{on} AS {database}.{local}\n"
            f"ENGINE = Distributed({cluster}, {database}, {local}, {SHARDING_KEYS[table]})"]


def _alter(statement: str, table: str, cluster: str) -> list[str]:
    action = statement[len(f"ALTER TABLE {table} "):]
    if table not in SHARDING_KEYS:
        return [f"ALTER TABLE {table} ON CLUSTER {cluster} {action}"]
    statements = [f"ALTER TABLE {table}{LOCAL_SUFFIX} ON CLUSTER {cluster} {action}"]
    if COLUMN_CHANGE.match(action):  # a Distributed table's columns must match its local tables'
        statements.append(f"ALTER TABLE {table} ON CLUSTER {cluster} {action}")
    return statements


def for_cluster(statement: str, cluster: str, database: str = DEFAULT_DATABASE) -> list[str]:
    """One single-server statement as the statements a cluster named ``cluster`` needs, for the
    database ``database``."""
    check_name(cluster)
    check_name(database)
    if created := CREATE.match(statement):
        return _create(statement, created.group(1), cluster, database)
    if altered := ALTER.match(statement):
        return _alter(statement, altered.group(1), cluster)
    raise ValueError(f"no cluster form for: {statement[:60]}")


def cluster_migrations(cluster: str, database: str = DEFAULT_DATABASE,
                       migrations: tuple[Migration, ...] = MIGRATIONS) -> list[Migration]:
    """The migrations table first (as version 0), then every migration rewritten for ``cluster``."""
    table = Migration(0, "schema migrations table", tuple(for_cluster(MIGRATIONS_TABLE, cluster, database)))
    return [table, *(replace(m, statements=tuple(s for statement in m.statements
                                                 for s in for_cluster(statement, cluster, database)))
                     for m in migrations)]


def check_layout(db: Database, cluster: str) -> None:
    """Refuse a schema made for the other kind of ClickHouse: a cluster's (``events`` Distributed)
    without a cluster name, or one server's with one. Either way erasures and retention would fail,
    the ``DELETE`` going to a table that takes none (a Distributed one) or does not exist."""
    rows = db.query("SELECT engine FROM system.tables WHERE database = currentDatabase() AND name = 'events'")
    if not rows:
        return  # a fresh database: made as the setting says
    distributed = rows[0][0] == "Distributed"
    if distributed and not cluster:
        raise MigrationError(f"database {db.name} holds a cluster's schema (events is Distributed): set "
                             "GATEWAY_CLICKHOUSE_CLUSTER to the cluster's name")
    if cluster and not distributed:
        raise MigrationError(f"database {db.name} holds a single server's schema, not one made for the "
                             f"cluster {cluster}: unset GATEWAY_CLICKHOUSE_CLUSTER, or migrate a fresh "
                             "database with --cluster (docs/deploy.md)")


def migrate_schema(db: Database, cluster: str) -> MigrationReport:
    """``migrate``, for one server or (``cluster``) for a cluster: its migrations table first, then
    each pending migration's cluster form, recorded as the single-server migration it stands for (as
    the emitted files do)."""
    check_layout(db, cluster)
    if not cluster:
        return migrate(db)
    for statement in for_cluster(MIGRATIONS_TABLE, cluster, db.name):
        db.command(statement)
    return migrate(db, rewrite=lambda statement: for_cluster(statement, cluster, db.name))


def pending_schema(db: Database, cluster: str) -> tuple[Migration, ...]:
    """The migrations still to apply (nothing is created: a gateway that waits for a migrate job must
    not make a table the job's ``ON CLUSTER`` statement would then leave as it is)."""
    check_layout(db, cluster)
    return pending(db)


def emit_cluster_sql(folder: Path, cluster: str, database: str = DEFAULT_DATABASE) -> list[Path]:
    """Write one SQL file per migration for ``cluster`` into ``folder``; returns the paths."""
    checksums = {m.version: checksum(m) for m in MIGRATIONS}
    written = []
    for migration in cluster_migrations(cluster, database):
        # Recorded as the single-server migration it stands for, so the gateway finds it applied.
        record = () if migration.version not in checksums else (
            "INSERT INTO schema_migrations (version, name, checksum) VALUES "
            f"({migration.version}, '{migration.name}', '{checksums[migration.version]}')",)
        header = (f"-- Migration {migration.version:04d} for the cluster {cluster}: {migration.name}\n"
                  f"-- Generated by `consent-gateway migrate --emit-sql DIR --cluster {cluster}`; do not "
                  f"edit.\n-- Apply in order with: clickhouse-client --database {database} --multiquery < "
                  "this file\n-- (macros {shard} and {replica} must be defined on every node).\n\n")
        recorded = replace(migration, statements=migration.statements + record)
        written.append(write_sql(folder, recorded, header))
    return written
