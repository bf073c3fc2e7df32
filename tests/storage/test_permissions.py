"""The data folder is private to the service user: what exists is tightened, what comes later is born so."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

from gateway.storage.permissions import make_private, private_umask, secure_data_dir
from tests.e2e.gateway_process import run_cli


def exposed(root: Path) -> list[str]:
    """Files and folders under ``root`` (itself included) that group or others may use."""
    found = []
    for folder, dirs, files in os.walk(root):
        for path in [Path(folder)] + [Path(folder, name) for name in dirs + files]:
            mode = path.lstat().st_mode
            if not stat.S_ISLNK(mode) and mode & 0o077:
                found.append(f"{oct(stat.S_IMODE(mode))} {path.relative_to(root.parent)}")
    return sorted(set(found))


def test_make_private_keeps_owner_bits_and_leaves_link_targets_alone(tmp_path: Path) -> None:
    data = tmp_path / "data"
    (data / "clickhouse" / "store").mkdir(parents=True, mode=0o755)
    (data / "clickhouse").chmod(0o755)
    (data / "clickhouse" / "store" / "part.bin").write_bytes(b"hits")
    (data / "clickhouse" / "store" / "part.bin").chmod(0o644)
    (data / "tool.sh").write_text("#!/bin/sh\n")
    (data / "tool.sh").chmod(0o755)
    outside = tmp_path / "elsewhere.txt"
    outside.write_text("not ours")
    outside.chmod(0o644)
    (data / "link").symlink_to(outside)
    data.chmod(0o755)
    assert make_private(data) == 5
    assert exposed(data) == []
    assert stat.S_IMODE((data / "tool.sh").stat().st_mode) == 0o700
    assert stat.S_IMODE((data / "clickhouse" / "store" / "part.bin").stat().st_mode) == 0o600
    assert stat.S_IMODE(outside.stat().st_mode) == 0o644
    assert make_private(data) == 0


def test_a_shared_folder_given_as_data_folder_is_left_alone(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o1777)  # like /tmp
    (shared / "other-users-file").write_text("")
    (shared / "other-users-file").chmod(0o644)
    assert secure_data_dir(shared, {"spool"}) == 0
    assert stat.S_IMODE(shared.stat().st_mode) == 0o1777


def test_a_data_folder_set_to_a_folder_others_use_hides_their_files_without_changing_them(
        tmp_path: Path) -> None:
    """GATEWAY_DATA_DIR=/srv by mistake: the gateway's own entries become private, and nothing else's
    mode is rewritten, the folder's own included (found in review: it used to chmod everything)."""
    srv = tmp_path / "srv"
    (srv / "website" / "htdocs").mkdir(parents=True)
    (srv / "website" / "htdocs" / "index.html").write_text("hello")
    (srv / "website" / "htdocs" / "index.html").chmod(0o644)
    (srv / "spool" / "0").mkdir(parents=True)
    (srv / "spool" / "0" / "000001.seg").write_bytes(b"hits")
    (srv / "spool" / "0" / "000001.seg").chmod(0o644)
    outside_clickhouse = tmp_path / "ch"
    (outside_clickhouse / "store").mkdir(parents=True)
    (outside_clickhouse / "store" / "part.bin").write_bytes(b"rows")
    (outside_clickhouse / "store" / "part.bin").chmod(0o644)
    (outside_clickhouse / "notes.txt").write_text("someone's")
    (outside_clickhouse / "notes.txt").chmod(0o644)
    srv.chmod(0o755)
    secure_data_dir(srv, {"spool", "clickhouse"}, outside_clickhouse)
    assert stat.S_IMODE(srv.stat().st_mode) == 0o755  # others keep their way in to their files
    assert exposed(srv / "spool") == []
    assert stat.S_IMODE((srv / "website" / "htdocs" / "index.html").stat().st_mode) == 0o644
    assert exposed(outside_clickhouse / "store") == []
    assert stat.S_IMODE((outside_clickhouse / "notes.txt").stat().st_mode) == 0o644
    assert stat.S_IMODE(outside_clickhouse.stat().st_mode) == 0o755


def test_private_umask_is_restored_after_the_command() -> None:
    before = os.umask(0o022)
    try:
        with private_umask():
            assert os.umask(0o077) == 0o077
        assert os.umask(0o022) == 0o022
    finally:
        os.umask(before)


ENGINE = textwrap.dedent("""
    import sys
    from gateway.storage.clickhouse import connect
    from gateway.storage.permissions import private_umask

    with private_umask():
        db = connect(f"chdb://{sys.argv[1]}?database=gw")
        db.command("CREATE TABLE t (a UInt64, s String) ENGINE = MergeTree ORDER BY a")
        for batch in range(6):
            db.insert("t", [[batch * 100 + i, "x" * i] for i in range(100)], ["a", "s"])
        db.command("OPTIMIZE TABLE t FINAL")  # a merge: new parts, new folders
        db.command("ALTER TABLE t DELETE WHERE a % 7 = 0 SETTINGS mutations_sync = 1")  # a mutation
        assert db.query("SELECT count() FROM t")[0][0] == 514
        db.close()
""")


def test_embedded_clickhouse_writes_only_private_files(tmp_path: Path) -> None:
    """The real engine (chDB), in a process of its own: tables, inserts, a merge and a mutation."""
    data = tmp_path / "data"
    done = subprocess.run([sys.executable, "-c", ENGINE, str(data / "clickhouse")], capture_output=True,
                          text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    assert len(list((data / "clickhouse").rglob("*"))) > 50
    assert exposed(data / "clickhouse") == []


def test_a_cli_command_leaves_the_data_folder_private(tmp_path: Path) -> None:
    data = tmp_path / "data"
    done = run_cli(["migrate"], {"GATEWAY_DATA_DIR": str(data)})  # embedded: the engine's files
    assert done.returncode == 0, done.stderr
    assert (data / "clickhouse" / "metadata").is_dir()
    assert exposed(data) == []
