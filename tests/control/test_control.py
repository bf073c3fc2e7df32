"""The control channel in-process: private socket and token, bad requests answered, stale sockets replaced,
and ``run_operation`` going through the gateway when one serves and directly when none does."""

from __future__ import annotations

import asyncio
import json
import socket
import stat
from collections.abc import AsyncIterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import pytest

from gateway.config.settings import Settings
from gateway.control import (
    ControlChannel,
    ControlError,
    OpContext,
    open_control_channel,
    operation,
    run_operation,
)
from gateway.control.local import socket_path, token_path
from gateway.control.server import MAX_REQUEST
from gateway.storage.clickhouse import Database, Target
from tests.conftest import SettingsFactory


@operation("test.where")
async def where(context: OpContext, args: dict[str, Any]) -> dict[str, Any]:
    one = await asyncio.to_thread(context.db.query, "SELECT 1")
    return {"in_gateway": context.state is not None, "args": args, "one": one[0][0]}


@operation("test.refuse")
async def refuse(context: OpContext, args: dict[str, Any]) -> None:
    raise ControlError("nothing is logged under that id")


@operation("test.crash")
async def crash(context: OpContext, args: dict[str, Any]) -> None:
    raise RuntimeError("boom\nwith a second line")


@pytest.fixture
def settings(make_settings: SettingsFactory, clickhouse_url: str) -> Settings:
    return make_settings({"GATEWAY_CLICKHOUSE_URL": clickhouse_url})


@pytest.fixture
async def channel(settings: Settings, db: Database) -> AsyncIterator[ControlChannel]:
    opened = await open_control_channel(settings, db, SimpleNamespace())
    assert opened is not None
    yield opened
    await opened.close()


async def exchange(path: Path, *lines: bytes) -> list[dict[str, Any]]:
    """Send ``lines`` on one connection and read every answer until the gateway closes it."""
    reader, writer = await asyncio.open_unix_connection(str(path))
    for line in lines:
        writer.write(line)
    writer.write_eof()
    raw = await reader.read()
    writer.close()
    await writer.wait_closed()
    return [json.loads(answer) for answer in raw.splitlines()]


def request(channel: ControlChannel, op: str, **extra: Any) -> bytes:
    return json.dumps({"op": op, "args": {}, "token": channel.token, **extra}).encode() + b"\n"


async def test_socket_and_token_are_for_the_gateways_user_only_and_go_at_close(settings: Settings,
                                                                             db: Database) -> None:
    channel = await open_control_channel(settings, db, SimpleNamespace())
    assert channel is not None
    sock, token = socket_path(settings), token_path(settings)
    assert stat.S_ISSOCK(sock.stat().st_mode)
    assert stat.S_IMODE(sock.stat().st_mode) == 0o600
    assert stat.S_IMODE(token.stat().st_mode) == 0o600
    await channel.close()
    assert not sock.exists() and not token.exists()


async def test_an_operation_runs_in_the_gateway_while_it_serves_and_directly_otherwise(
        settings: Settings, db: Database) -> None:
    channel = await open_control_channel(settings, db, SimpleNamespace())
    assert channel is not None
    try:
        assert await run_operation(settings, "test.where", {"n": 1}) == {"in_gateway": True, "args": {"n": 1},
                                                                         "one": 1}
    finally:
        await channel.close()
    assert await run_operation(settings, "test.where", {"n": 2}) == {"in_gateway": False, "args": {"n": 2},
                                                                     "one": 1}


@pytest.mark.parametrize("serving", [True, False])
async def test_failures_reach_the_caller_as_one_line(settings: Settings, db: Database, serving: bool) -> None:
    channel = await open_control_channel(settings, db, SimpleNamespace()) if serving else None
    try:
        with pytest.raises(ControlError) as refused:
            await run_operation(settings, "test.refuse", {})
        assert str(refused.value) == "nothing is logged under that id"
        with pytest.raises(ControlError) as unknown:
            await run_operation(settings, "test.nothing", {})
        assert str(unknown.value) == "unknown operation 'test.nothing'"
        with pytest.raises(ControlError) as crashed:
            await run_operation(settings, "test.crash", {})
        assert "RuntimeError: boom" in str(crashed.value) and "\n" not in str(crashed.value)
    finally:
        if channel is not None:
            await channel.close()


async def test_bad_requests_are_answered_and_the_connection_goes_on(channel: ControlChannel) -> None:
    answers = await exchange(
        channel.path, b"not json\n", b"[1, 2]\n", request(channel, "test.where", token="guess"),
        request(channel, "test.where", token=None), request(channel, "test.where", args=[1]),
        request(channel, "test.nothing"), request(channel, "test.refuse"), request(channel, "test.crash"),
        request(channel, "test.where", args={"still": "here"}))
    errors = [answer.get("error", "") for answer in answers[:-1]]
    assert [answer["ok"] for answer in answers] == [False] * 8 + [True]
    assert errors[0] == "the request is not JSON"
    assert errors[1].startswith('send {"op"')
    assert errors[2] == errors[3] == f"wrong or missing token: it is in {channel.token_file}"
    assert errors[4] == "the arguments must be a JSON object"
    assert errors[5] == "unknown operation 'test.nothing'"
    assert errors[6] == "nothing is logged under that id"
    assert errors[7].startswith("test.crash failed in the gateway: RuntimeError: boom")
    assert answers[-1]["result"] == {"in_gateway": True, "args": {"still": "here"}, "one": 1}


async def test_an_oversize_request_is_refused_and_the_server_goes_on(channel: ControlChannel) -> None:
    padding = "x" * MAX_REQUEST
    answers = await exchange(channel.path, request(channel, "test.where", args={"padding": padding}))
    assert answers == [{"ok": False, "error": f"the request is larger than {MAX_REQUEST} bytes"}]
    assert (await exchange(channel.path, request(channel, "test.where")))[0]["ok"] is True


def leave_stale_socket(path: Path) -> None:
    """What a gateway killed with SIGKILL leaves: a socket file nobody listens on."""
    path.parent.mkdir(parents=True, exist_ok=True)
    dead = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    dead.bind(str(path))
    dead.close()


async def test_a_stale_socket_is_passed_by_the_cli_and_replaced_by_the_gateway(settings: Settings,
                                                                              db: Database) -> None:
    leave_stale_socket(socket_path(settings))
    assert (await run_operation(settings, "test.where", {}))["in_gateway"] is False
    channel = await open_control_channel(settings, db, SimpleNamespace())
    assert channel is not None
    try:
        assert (await run_operation(settings, "test.where", {}))["in_gateway"] is True
    finally:
        await channel.close()


async def test_a_second_gateway_leaves_the_answering_one_alone(channel: ControlChannel, settings: Settings,
                                                              db: Database) -> None:
    assert await open_control_channel(settings, db, SimpleNamespace()) is None
    assert (await run_operation(settings, "test.where", {}))["in_gateway"] is True


async def test_a_file_in_the_sockets_place_is_left_and_the_gateway_serves_without(settings: Settings,
                                                                                  db: Database) -> None:
    path = socket_path(settings)
    path.parent.mkdir(parents=True)
    path.write_text("not mine")
    assert await open_control_channel(settings, db, SimpleNamespace()) is None
    assert path.read_text() == "not mine"


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="long socket paths go through /proc (Linux)")
async def test_a_data_folder_deeper_than_a_socket_address_allows(make_settings: SettingsFactory,
                                                                clickhouse_url: str, db: Database,
                                                                tmp_path: Path) -> None:
    deep = tmp_path / ("d" * 60) / ("e" * 60)
    settings = make_settings({"GATEWAY_CLICKHOUSE_URL": clickhouse_url, "GATEWAY_DATA_DIR": str(deep)})
    channel = await open_control_channel(settings, db, SimpleNamespace())
    assert channel is not None and len(str(channel.path)) > 108
    try:
        assert (await run_operation(settings, "test.where", {}))["in_gateway"] is True
    finally:
        await channel.close()
    assert not channel.path.exists()


async def test_a_clickhouse_server_opens_no_channel(settings: Settings) -> None:
    server = Database(Target.parse("http://127.0.0.1:9/gateway"), cast(Any, None))
    assert await open_control_channel(settings, server, SimpleNamespace()) is None
    assert not socket_path(settings).exists()


def test_a_name_is_registered_once() -> None:
    with pytest.raises(ValueError, match="registered twice"):
        operation("test.where")(refuse)
