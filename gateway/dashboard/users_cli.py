"""``consent-gateway users …`` and ``consent-gateway share …``: manage dashboard access from a shell.

These commands only touch ``DATA_DIR/users.json`` (see ``gateway.dashboard.users``), so they work
while ``serve`` runs; the server notices the change on its next request. Passwords are read from a
terminal prompt (twice) or, for scripts, one line of standard input with ``--password-stdin``; they
are never printed, and neither are hashes. Bad input exits with status 2 and one line on stderr.
"""

from __future__ import annotations

import argparse
import getpass
import sys
from collections.abc import Callable, Sequence

from gateway.config.settings import Settings
from gateway.config.sites import Site
from gateway.dashboard.accounts import ShareLink, User, UserError, check_role_sites, normalise_name
from gateway.dashboard.passwords import password_problem
from gateway.dashboard.users import UsersFileError, UserStore, users_path

EXIT_BAD_INPUT = 2
SHARE_PATH = "/dashboard/shared?key="


class _Abort(Exception):
    """Stop with a one-line message and an exit status."""

    def __init__(self, message: str, status: int = EXIT_BAD_INPUT) -> None:
        super().__init__(message)
        self.status = status


def users_command(settings: Settings, args: argparse.Namespace) -> int:
    store = UserStore(users_path(settings))
    commands = {
        "add": lambda: add_user(settings, store, args.name, args.role, args.site, args.password_stdin),
        "passwd": lambda: change_password(store, args.name, args.password_stdin),
        "access": lambda: set_access(settings, store, args.name, args.role, args.site),
        "remove": lambda: remove_user(store, args.name),
        "list": lambda: list_users(store),
    }
    return _run(commands[args.users_command])


def share_command(settings: Settings, args: argparse.Namespace) -> int:
    store = UserStore(users_path(settings))
    commands = {
        "create": lambda: create_share(settings, store, args.site, args.label),
        "list": lambda: list_shares(settings, store, args.site),
        "revoke": lambda: revoke_share(store, args.share_id),
    }
    return _run(commands[args.share_command])


def _run(command: Callable[[], None]) -> int:
    try:
        command()
    except _Abort as exc:
        print(f"consent-gateway: {exc}", file=sys.stderr)
        return exc.status
    except UserError as exc:
        print(f"consent-gateway: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except UsersFileError as exc:
        print(f"consent-gateway: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:  # e.g. a read-only data folder
        print(f"consent-gateway: cannot write {exc.filename or 'the users file'}: {exc.strerror}",
              file=sys.stderr)
        return 1
    return 0


def add_user(settings: Settings, store: UserStore, raw_name: str, role: str, sites: Sequence[int] | None,
             password_stdin: bool) -> None:
    # Everything that can be wrong is checked before asking for a password.
    name = normalise_name(raw_name)
    checked_sites = check_role_sites(role, sites or ())
    _check_sites_exist(settings, checked_sites)
    if store.get(name) is not None:
        raise UserError(f"user {name!r} exists already; change the password with `users passwd {name}`")
    user = store.add(name, _read_password(name, password_stdin), role, checked_sites)
    print(f"added {user.role} {user.name!r} ({_sites_text(user)})")


def change_password(store: UserStore, name: str, password_stdin: bool) -> None:
    user = store.get(name)
    if user is None:
        raise UserError(f"no user {name.strip()!r}")
    store.set_password(user.name, _read_password(user.name, password_stdin))
    print(f"changed the password of {user.name!r}; their open sessions are signed out")


def set_access(settings: Settings, store: UserStore, name: str, role: str,
               sites: Sequence[int] | None) -> None:
    checked_sites = check_role_sites(role, sites or ())
    _check_sites_exist(settings, checked_sites)
    user = store.set_role(name, role, checked_sites)
    print(f"{user.name!r} is now {user.role} ({_sites_text(user)}); open sessions see it at once")


def remove_user(store: UserStore, name: str) -> None:
    user = store.get(name)
    if user is None:
        raise UserError(f"no user {name.strip()!r}")
    store.remove(user.name)
    print(f"removed {user.name!r}; their open sessions are signed out")


def list_users(store: UserStore) -> None:
    users = store.users()
    if not users:
        print("no dashboard users yet; add one with `consent-gateway users add NAME --role admin`")
        return
    rows = [[u.name, u.role, "all" if u.role == "admin" else ", ".join(map(str, u.sites)), u.created]
            for u in users]
    _table(["NAME", "ROLE", "SITES", "CREATED"], rows)


def create_share(settings: Settings, store: UserStore, site_id: int, label: str) -> None:
    site = _check_sites_exist(settings, (site_id,))[0]
    link, token = store.create_share(site_id, label)
    print(f"share link {link.id} for site {site_id} ({site.name}) created; anyone with the address below "
          f"sees this site's dashboards until `consent-gateway share revoke {link.id}`.\n"
          "The key is shown only now; add it to the gateway's public address:")
    print(f"{SHARE_PATH}{token}")


def list_shares(settings: Settings, store: UserStore, site_id: int | None) -> None:
    if site_id is not None:
        _check_sites_exist(settings, (site_id,))
    links = store.shares(site_id)
    if not links:
        print("no share links")
        return
    names = {site.id: site.name for site in settings.sites}
    _table(["ID", "SITE", "LABEL", "CREATED"], [[s.id, _site_text(s, names), s.label or "-", s.created]
                                                 for s in links])


def revoke_share(store: UserStore, share_id: str) -> None:
    store.revoke_share(share_id)
    print(f"revoked share link {share_id.strip().lower()}; its visitors lose access at their next request")


def _read_password(name: str, from_stdin: bool) -> str:
    if from_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
        if not password:
            raise _Abort("no password on standard input (--password-stdin reads one line)")
    else:
        try:
            password = getpass.getpass(f"New password for {name}: ")
            if (problem := password_problem(password)) is not None:
                raise _Abort(problem)
            if getpass.getpass("Repeat the password: ") != password:
                raise _Abort("the passwords do not match; nothing changed")
        except EOFError:
            raise _Abort("no password given; nothing changed") from None
    if (problem := password_problem(password)) is not None:
        raise _Abort(problem)
    return password


def _check_sites_exist(settings: Settings, site_ids: Sequence[int]) -> list[Site]:
    by_id = {site.id: site for site in settings.sites}
    missing = [site_id for site_id in site_ids if site_id not in by_id]
    if missing:
        configured = ", ".join(str(i) for i in sorted(by_id)) or "none"
        raise _Abort(f"site {missing[0]} is not configured (configured sites: {configured})")
    return [by_id[site_id] for site_id in site_ids]


def _sites_text(user: User) -> str:
    return "all sites" if user.role == "admin" else "sites " + ", ".join(str(s) for s in user.sites)


def _site_text(link: ShareLink, names: dict[int, str]) -> str:
    return f"{link.site_id} {names.get(link.site_id, '(not configured)')}"


def _table(header: list[str], rows: list[list[str]]) -> None:
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())
