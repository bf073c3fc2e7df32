"""Migrations: applied once, idempotent, tamper-evident, emitted as the SQL shipped in deploy/."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import pytest

from gateway.storage.clickhouse import Database
from gateway.storage.migrations import MigrationError, apply, emit_sql, migrate, run_statement
from gateway.storage.schema import CONSENT_LOG_TABLE, EVENTS_TABLE, MIGRATIONS, Migration

DEPLOY_SQL = Path(__file__).parents[2] / "deploy" / "clickhouse"
IP_TYPE = re.compile(r"\bIPv[46]\b")
IP_NAME = re.compile(r"(^|_)(ip|ips|ipv4|ipv6|ip_?address|remote_?addr|client_?addr|x_?forwarded_?for)($|_)",
                     re.I)


def test_migrate_applies_everything_once_then_does_nothing(db: Database) -> None:
    first = migrate(db)
    assert [m.version for m in first.applied] == [m.version for m in MIGRATIONS]
    tables = {name for (name,) in db.query("SHOW TABLES")}
    assert {"events", "consent_log", "schema_migrations"} <= tables
    second = migrate(db)
    assert second.applied == ()
    assert "nothing to do" in second.summary
    assert db.query("SELECT count() FROM schema_migrations") == [(len(MIGRATIONS),)]


def test_every_statement_can_run_twice_so_concurrent_migrators_are_safe() -> None:
    idempotent = re.compile(r"CREATE \w+ IF NOT EXISTS"
                            r"|ALTER TABLE \w+ (ADD|DROP|MODIFY) \w+ IF (NOT )?EXISTS"
                            r"|ALTER TABLE \w+ MATERIALIZE INDEX \w+$")  # a rebuild: twice is only slower
    for migration in MIGRATIONS:
        for statement in migration.statements:
            assert idempotent.match(statement), statement[:80]


def test_an_edited_applied_migration_is_refused(db: Database) -> None:
    migrate(db)
    edited = (replace(MIGRATIONS[0], statements=(*MIGRATIONS[0].statements, "SELECT 1")), *MIGRATIONS[1:])
    with pytest.raises(MigrationError, match="was changed after it was applied"):
        migrate(db, edited)


def test_a_database_from_a_newer_gateway_is_refused(db: Database) -> None:
    newer = (*MIGRATIONS, Migration(999, "from the future", ("CREATE TABLE IF NOT EXISTS f (n UInt8) "
                                                             "ENGINE = MergeTree ORDER BY n",)))
    migrate(db, newer)
    with pytest.raises(MigrationError, match="newer version"):
        migrate(db)


def test_no_column_of_any_table_can_hold_an_ip_address(db: Database) -> None:
    migrate(db)
    columns = db.query("SELECT table, name, type FROM system.columns WHERE database = currentDatabase()")
    assert len(columns) > 50
    offending = [(t, n, ty) for t, n, ty in columns if IP_TYPE.search(ty) or IP_NAME.search(n)]
    assert offending == []


def test_geography_stops_at_the_city(db: Database) -> None:
    migrate(db)
    names = {n for (n,) in db.query("SELECT name FROM system.columns WHERE database = currentDatabase()")}
    assert not names & {"latitude", "longitude", "lat", "lon", "postal_code", "zip", "accuracy_radius"}


def test_writer_table_specs_match_the_live_schema(db: Database) -> None:
    migrate(db)
    for spec in (EVENTS_TABLE, CONSENT_LOG_TABLE):
        live = [n for n, default_kind in db.query(
            "SELECT name, default_kind FROM system.columns WHERE database = currentDatabase() "
            "AND table = {t:String} ORDER BY position", {"t": spec.name}) if not default_kind]
        assert list(spec.columns) == live


def test_deploy_sql_is_generated_from_the_migrations(tmp_path: Path) -> None:
    emitted = {p.name: p.read_text() for p in emit_sql(tmp_path)}
    shipped = {p.name: p.read_text() for p in DEPLOY_SQL.glob("*.sql")}
    assert emitted == shipped, "run `consent-gateway migrate --emit-sql deploy/clickhouse`"


def test_emitted_sql_creates_the_same_schema(db: Database, tmp_path: Path) -> None:
    for path in sorted(emit_sql(tmp_path)):
        for statement in path.read_text().split(";\n"):
            body = "\n".join(line for line in statement.splitlines() if not line.startswith("--")).strip()
            if body:
                db.command(body)
    assert {"events", "consent_log"} <= {name for (name,) in db.query("SHOW TABLES")}


def test_a_late_migrator_never_undoes_a_newer_one(db: Database) -> None:
    """Gateways starting together each read what is pending, then apply it: one that is behind must
    not run migration 4 after another ran 5, which would take 'undelivered' out of consent_log.action
    and make every stored undelivered row unreadable (found by review)."""
    migrate(db)
    late_four = MIGRATIONS[3]
    assert apply(db, late_four) is False  # 5 is recorded: 4 was applied and recorded before it
    # Even past that check (it read the versions a moment before 5 landed), no enum is narrowed.
    [narrowing] = [s for s in late_four.statements if "MODIFY COLUMN IF EXISTS action" in s]
    assert run_statement(db, narrowing) is False
    [(action,)] = db.query("SELECT type FROM system.columns WHERE database = currentDatabase() AND "
                           "table = 'consent_log' AND name = 'action'")
    assert "'undelivered' = 6" in action
    assert run_statement(db, MIGRATIONS[4].statements[0]) is False  # already as wide: nothing to do
