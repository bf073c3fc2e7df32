"""Reading an insert's failure: which ClickHouse answers prove that the insert stored nothing."""

from __future__ import annotations

import pytest
from clickhouse_connect.driver.exceptions import DatabaseError, OperationalError
from urllib3.exceptions import ConnectTimeoutError, ReadTimeoutError

from gateway.storage.failures import may_have_stored


def server_error(code: int) -> DatabaseError:
    """What clickhouse-connect raises for an answer carrying X-ClickHouse-Exception-Code."""
    message = f"HTTPDriver received ClickHouse error code {code}\n Code: {code}. DB::Exception: ..."
    return DatabaseError(message, code=code)


@pytest.mark.parametrize(("code", "stored"), [
    # Raised while the INSERT is parsed, checked or admitted: no part was written.
    (16, False),   # NO_SUCH_COLUMN_IN_TABLE
    (60, False),   # UNKNOWN_TABLE
    (81, False),   # UNKNOWN_DATABASE
    (164, False),  # READONLY
    (202, False),  # TOO_MANY_SIMULTANEOUS_QUERIES
    (497, False),  # ACCESS_DENIED
    (516, False),  # AUTHENTICATION_FAILED
    # The outcome is unknown, or a part may be committed.
    (319, True),   # UNKNOWN_STATUS_OF_INSERT: Keeper lost mid-commit
    (159, True),   # TIMEOUT_EXCEEDED: a quorum not reached in time
    (999, True),   # KEEPER_EXCEPTION
    (394, True),   # QUERY_WAS_CANCELLED
    (210, True),   # NETWORK_ERROR
    (209, True),   # SOCKET_TIMEOUT
    (241, True),   # MEMORY_LIMIT_EXCEEDED: can be raised mid-insert
    (242, True),   # TABLE_IS_READ_ONLY: checked again at each block's commit
    (252, True),   # TOO_MANY_PARTS: also in a materialized view's table after the main part
    (1002, True),  # an unknown code
])
def test_only_errors_raised_before_any_data_prove_nothing_was_stored(code: int, stored: bool) -> None:
    assert may_have_stored(server_error(code), embedded=False) is stored
    try:  # as raised: the server's error as the cause of another
        raise RuntimeError("insert failed") from server_error(code)
    except RuntimeError as wrapped:
        assert may_have_stored(wrapped, embedded=False) is stored


@pytest.mark.parametrize(("failure", "stored"), [
    (ConnectionRefusedError(111, "Connection refused"), False),
    (ConnectTimeoutError(None, "connect timed out"), False),
    (ReadTimeoutError(None, "/", "read timed out"), True),  # type: ignore[arg-type]
    (ConnectionResetError(104, "reset by peer"), True),
    (OperationalError("HTTP 502 from a load balancer"), True),  # no ClickHouse code
    (TimeoutError("read timed out"), True),
])
def test_transport_failures(failure: BaseException, stored: bool) -> None:
    assert may_have_stored(failure, embedded=False) is stored


def test_an_embedded_insert_that_raised_stored_nothing() -> None:
    assert may_have_stored(server_error(319), embedded=True) is False
