"""Applying the schema migrations, idempotently, and emitting them as SQL files.

Applied versions are recorded in ``schema_migrations`` with a checksum of their statements; a
second run finds nothing to do and says so. A checksum that no longer matches means someone
edited an applied migration: that fails loudly instead of leaving schemas that differ between
installations. Every statement is ``IF NOT EXISTS``-safe, so two instances migrating at the same
moment both succeed; and a migrator that is behind never undoes one that is ahead: before each
migration it reads the recorded versions again and skips what a newer one already passed, and an
enum is never narrowed (an ``ALTER ... MODIFY COLUMN`` to an enum the column already holds every
value of is skipped), so a late migration 4 cannot take away the value migration 5 added.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from gateway.storage.clickhouse import Database
from gateway.storage.schema import MIGRATIONS, MIGRATIONS_TABLE, Migration


class MigrationError(RuntimeError):
    """The database's schema history does not match this version of the gateway."""


@dataclass(frozen=True, slots=True)
class MigrationReport:
    applied: tuple[Migration, ...]
    already_applied: int

    @property
    def summary(self) -> str:
        if not self.applied:
            return f"Schema is up to date ({self.already_applied} migrations applied earlier); nothing to do."
        names = ", ".join(f"{m.version:04d} {m.name}" for m in self.applied)
        return f"Applied {len(self.applied)} migration(s): {names}."


def checksum(migration: Migration) -> str:
    return hashlib.sha256("\n;\n".join(migration.statements).encode()).hexdigest()


def applied_versions(db: Database) -> dict[int, str]:
    """The recorded versions and checksums; none while ``schema_migrations`` does not exist (it is
    made by ``migrate`` alone, in its cluster form on a cluster)."""
    if not db.query("SELECT count() FROM system.tables WHERE database = currentDatabase() AND name = "
                    "'schema_migrations'")[0][0]:
        return {}
    rows = db.query("SELECT version, argMax(checksum, applied_at) FROM schema_migrations GROUP BY version")
    return {int(version): str(digest) for version, digest in rows}


def pending(db: Database, migrations: tuple[Migration, ...] = MIGRATIONS) -> tuple[Migration, ...]:
    done = applied_versions(db)
    known = {m.version for m in migrations}
    unknown = sorted(set(done) - known)
    if unknown:
        raise MigrationError(f"database {db.name} has migration {unknown[0]}, which this gateway does not "
                             "know: it was migrated by a newer version")
    for migration in migrations:
        if migration.version in done and done[migration.version] != checksum(migration):
            raise MigrationError(f"migration {migration.version:04d} ({migration.name}) was changed after it "
                                 "was applied; add a new migration instead of editing an old one")
    return tuple(m for m in migrations if m.version not in done)


ENUM_CHANGE = re.compile(r"ALTER TABLE (\w+) MODIFY COLUMN IF EXISTS (\w+) (Enum8\(.*\))$", re.S)
ENUM_MEMBER = re.compile(r"'((?:[^'\\]|\\.)*)' = (-?\d+)")


# One single-server statement as the statements to run: itself, or its cluster form (cluster.py).
Rewrite = Callable[[str], list[str]]


def run_statement(db: Database, statement: str, rewrite: Rewrite | None = None) -> bool:
    """Run one migration statement (as ``rewrite`` turns it), unless it would narrow an enum the live
    column holds more of (a late, older migration after a newer one); True when it ran."""
    change = ENUM_CHANGE.match(statement)
    if change is not None:
        table, column, wanted = change.groups()
        rows = db.query("SELECT type FROM system.columns WHERE database = currentDatabase() AND table = "
                        "{t:String} AND name = {c:String}", {"t": table, "c": column})
        if rows and set(ENUM_MEMBER.findall(wanted)) <= set(ENUM_MEMBER.findall(rows[0][0])):
            return False
    for each in [statement] if rewrite is None else rewrite(statement):
        db.command(each)
    return True


def apply(db: Database, migration: Migration, rewrite: Rewrite | None = None) -> bool:
    """Apply and record ``migration``, unless another migrator already recorded a later one (it applied
    and recorded this one before: they go in order); True when applied here. A cluster's form of a
    migration is recorded under the single-server checksum: the schema is the same, spread out."""
    if max(applied_versions(db), default=0) > migration.version:
        return False
    for statement in migration.statements:
        run_statement(db, statement, rewrite)
    db.insert("schema_migrations", [(migration.version, migration.name, checksum(migration))],
              ["version", "name", "checksum"])
    return True


def migrate(db: Database, migrations: tuple[Migration, ...] = MIGRATIONS,
            rewrite: Rewrite | None = None) -> MigrationReport:
    db.command(MIGRATIONS_TABLE)  # a no-op on a cluster, whose own form was made first
    todo = pending(db, migrations)
    applied = tuple(migration for migration in todo if apply(db, migration, rewrite))
    return MigrationReport(applied=applied, already_applied=len(migrations) - len(applied))


def write_sql(folder: Path, migration: Migration, header: str) -> Path:
    """``migration`` as ``folder/NNNN_name.sql``: the header's comment lines, then its statements."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{migration.version:04d}_{migration.name.replace(' ', '_')}.sql"
    path.write_text(header + ";\n\n".join(migration.statements) + ";\n", encoding="utf-8")
    return path


def emit_sql(folder: Path, migrations: tuple[Migration, ...] = MIGRATIONS) -> list[Path]:
    """Write one SQL file per migration (single-node DDL) into ``folder``; returns the paths."""
    return [write_sql(folder, migration,
                      f"-- Migration {migration.version:04d}: {migration.name}\n"
                      "-- Generated by `consent-gateway migrate --emit-sql deploy/clickhouse`; do not edit.\n"
                      "-- Apply with: clickhouse-client --database gateway --multiquery < this file\n"
                      "-- (or let `consent-gateway migrate` do it, which also records the version).\n\n")
            for migration in migrations]
