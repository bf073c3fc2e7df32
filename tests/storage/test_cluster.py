"""The cluster's migrations: parsed by ClickHouse's own parser, shaped as docs/deploy.md says.

No ClickHouse cluster runs here, so each statement goes through ``formatQuery``, which parses DDL
(``ON CLUSTER``, replicated engines, ``Distributed``) that the embedded engine could not execute.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.rights.retention import STEPS
from gateway.storage.clickhouse import SHARDING_KEYS, Database
from gateway.storage.cluster import (
    cluster_migrations,
    emit_cluster_sql,
    for_cluster,
    migrate_schema,
    pending_schema,
)
from gateway.storage.migrations import MigrationError, checksum
from gateway.storage.schema import MIGRATIONS, MIGRATIONS_TABLE

SHIPPED = Path(__file__).resolve().parents[2] / "deploy" / "clickhouse" / "cluster"
CLUSTER = "consent_gateway"  # the name deploy/clickhouse/cluster/ is written for


def test_every_cluster_statement_parses_with_clickhouses_parser(db: Database) -> None:
    statements = [s for m in cluster_migrations(CLUSTER) for s in m.statements]
    assert len(statements) > sum(len(m.statements) for m in MIGRATIONS)
    for statement in statements:
        [(formatted,)] = db.query("SELECT formatQuery({q:String})", {"q": statement})
        assert f"ON CLUSTER {CLUSTER}" in formatted, statement
    with pytest.raises(Exception, match="Syntax error"):  # the check can fail
        db.query("SELECT formatQuery({q:String})", {"q": "CREATE TABLE t ON CLUSTER c (a UInt8) ENGIN = X"})


def test_events_are_sharded_by_visitor_and_the_small_tables_copied_everywhere() -> None:
    statements = [s for m in cluster_migrations(CLUSTER) for s in m.statements]
    local = next(s for s in statements if s.startswith("CREATE TABLE IF NOT EXISTS events_local "))
    assert "ReplicatedMergeTree('/clickhouse/tables/{shard}/{database}/events_local', '{replica}')" in local
    assert "replicated_deduplication_window = 1000" in local and "non_replicated" not in local
    # The database named: each node would read currentDatabase() as its own default database.
    assert ("CREATE TABLE IF NOT EXISTS events ON CLUSTER consent_gateway AS gateway.events_local\nENGINE = "
            "Distributed(consent_gateway, gateway, events_local, cityHash64(site_id, visitor_id))"
            ) in statements
    # The visit summary sits on its visitors' shard: a summary row and its hits meet on one node.
    assert ("CREATE TABLE IF NOT EXISTS visits ON CLUSTER consent_gateway AS gateway.visits_local\nENGINE = "
            "Distributed(consent_gateway, gateway, visits_local, cityHash64(site_id, visitor_id))"
            ) in statements
    for table in ("consent_log", "consent_configs", "rights_requests", "visit_builds"):
        [created] = [s for s in statements if s.startswith(f"CREATE TABLE IF NOT EXISTS {table} ")]
        assert f"ReplicatedMergeTree('/clickhouse/tables/all/{{database}}/{table}', '{{replica}}')" in created
    [versions] = cluster_migrations(CLUSTER)[0].statements
    assert "ReplicatedReplacingMergeTree('/clickhouse/tables/all/{database}/schema_migrations', " \
           "'{replica}', applied_at)" in versions


def test_alters_reach_the_rows_and_column_changes_the_distributed_table_too() -> None:
    add = "ALTER TABLE events ADD COLUMN IF NOT EXISTS new_visit UInt8 AFTER visitor_id"
    assert for_cluster(add, "c") == [
        "ALTER TABLE events_local ON CLUSTER c ADD COLUMN IF NOT EXISTS new_visit UInt8 AFTER visitor_id",
        "ALTER TABLE events ON CLUSTER c ADD COLUMN IF NOT EXISTS new_visit UInt8 AFTER visitor_id"]
    index = "ALTER TABLE events MATERIALIZE INDEX consent_id_bloom"
    assert for_cluster(index, "c") == [
        "ALTER TABLE events_local ON CLUSTER c MATERIALIZE INDEX consent_id_bloom"]
    enum = "ALTER TABLE consent_log MODIFY COLUMN IF EXISTS action Enum8('grant' = 1)"
    assert for_cluster(enum, "c") == ["ALTER TABLE consent_log ON CLUSTER c MODIFY COLUMN IF EXISTS action "
                                      "Enum8('grant' = 1)"]
    with pytest.raises(ValueError, match="letters, digits and _ only"):
        for_cluster(add, "c; DROP TABLE events")


def test_the_shipped_cluster_sql_is_what_the_code_generates(tmp_path: Path) -> None:
    emitted = {p.name: p.read_text() for p in emit_cluster_sql(tmp_path, CLUSTER)}
    shipped = {p.name: p.read_text() for p in SHIPPED.glob("*.sql")}
    assert emitted == shipped, f"run `consent-gateway migrate --emit-sql {SHIPPED} --cluster {CLUSTER}`"


def test_each_cluster_file_records_the_version_the_gateway_looks_for(tmp_path: Path) -> None:
    # Applied by hand, they must leave schema_migrations as `migrate` would, or the gateway's start
    # runs the single-server migrations against the Distributed table.
    files = sorted(emit_cluster_sql(tmp_path, CLUSTER))
    for migration, path in zip(MIGRATIONS, files[1:], strict=True):
        assert path.read_text().endswith(
            "INSERT INTO schema_migrations (version, name, checksum) VALUES "
            f"({migration.version}, '{migration.name}', '{checksum(migration)}');\n")
    assert "INSERT" not in files[0].read_text()


class ClusterSketch(Database):
    """The embedded engine standing for a cluster's node: statements ``ON CLUSTER`` (which need Keeper
    and remote servers) are parsed by ClickHouse and recorded instead of run; the rest run."""

    def __init__(self, db: Database) -> None:
        super().__init__(db.target.with_options(cluster=CLUSTER), db._client)
        self.on_cluster: list[str] = []

    def command(self, sql: str, parameters: dict[str, object] | None = None) -> object:
        if " ON CLUSTER " not in sql:
            return super().command(sql, parameters)
        [(formatted,)] = self.query("SELECT formatQuery({q:String})", {"q": sql})
        assert f"ON CLUSTER {CLUSTER}" in formatted
        self.on_cluster.append(sql)
        return None


def test_migrate_schema_applies_the_shipped_files_statements_in_order_and_records_each_version_once(
        db: Database, tmp_path: Path) -> None:
    node = ClusterSketch(db)
    report = migrate_schema(node, CLUSTER)
    assert [m.version for m in report.applied] == [m.version for m in MIGRATIONS]
    files = emit_cluster_sql(tmp_path, CLUSTER, db.name)  # the shipped ones, for this database's name
    shipped = [statement.strip().removesuffix(";") for path in sorted(files)
               for statement in "\n".join(line for line in path.read_text().splitlines()
                                          if not line.startswith("--")).split(";\n")
               if statement.strip() and not statement.strip().startswith("INSERT")]
    assert [s.strip() for s in node.on_cluster] == shipped
    assert sorted(db.query("SELECT version, checksum FROM schema_migrations")) == [
        (m.version, checksum(m)) for m in MIGRATIONS]  # as a single server records them
    again = ClusterSketch(db)
    assert migrate_schema(again, CLUSTER).applied == ()
    assert again.on_cluster == for_cluster(MIGRATIONS_TABLE, CLUSTER)


def test_erasure_and_retention_change_the_shards_rows_with_statements_clickhouse_parses(db: Database) -> None:
    node = ClusterSketch(db)
    table = node.mutation_table("events")
    for step in STEPS:
        statement = step.sql(node.mutation_table(step.table))
        [(formatted,)] = db.query("SELECT formatQuery({q:String})", {"q": statement})
        assert (f"ON CLUSTER {CLUSTER}" in formatted) == (step.table in SHARDING_KEYS), formatted
    assert table == f"events_local ON CLUSTER {CLUSTER}"


def test_pending_creates_nothing_so_a_migrate_job_can_still_make_the_replicated_table(db: Database) -> None:
    # A gateway with GATEWAY_MIGRATE_ON_START=false that starts before the job: it must not leave a
    # plain migrations table that the job's CREATE ... ON CLUSTER would then find and keep.
    node = ClusterSketch(db)
    assert len(pending_schema(node, CLUSTER)) == len(MIGRATIONS)
    assert db.query("SELECT count() FROM system.tables WHERE database = currentDatabase() AND name = "
                    "'schema_migrations'") == [(0,)]


def test_a_schema_made_for_the_other_kind_of_clickhouse_is_refused_with_what_to_set(db: Database) -> None:
    migrate_schema(db, "")  # one server's schema
    with pytest.raises(MigrationError, match="single server's schema, not one made for the cluster"):
        migrate_schema(ClusterSketch(db), CLUSTER)

    class ClusterNode(Database):  # chDB knows no cluster, so cannot make a Distributed table: it says so
        def query(self, sql: str, parameters: dict[str, object] | None = None) -> list[tuple[object, ...]]:
            return [("Distributed",)] if "name = 'events'" in sql else super().query(sql, parameters)

    with pytest.raises(MigrationError, match=r"events is Distributed.*set GATEWAY_CLICKHOUSE_CLUSTER"):
        pending_schema(ClusterNode(db.target, db._client), "")
