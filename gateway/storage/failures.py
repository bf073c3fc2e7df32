"""What a failed ClickHouse insert means: the writer's exceptions, and how it reads an insert's error.

Two questions are asked of every failure:
- is it permanent (a value the column can never hold: split the batch and reject the bad row) or
  transient (down, slow, a table missing during a deploy: retry the batch under the same token)?
- can the failed attempt have stored the rows anyway? An insert that never reached the server (the
  connection was refused or never completed), or that ClickHouse itself answered with an error, did
  not store them. Any other failure (a read timeout, a connection reset mid-request, an error page
  from a load balancer in front) leaves it open: the server may still have committed the block. Only
  rows no attempt can have stored may be taken back (``BatchWriter.retract``).
"""

from __future__ import annotations

import socket
import struct

from clickhouse_connect.driver.exceptions import DatabaseError, DataError
from urllib3.exceptions import ConnectTimeoutError  # NewConnectionError (refused, no route, DNS) is one

# ClickHouse error codes that mean "this data can never be inserted", not "try again later".
PERMANENT_CODES = frozenset({
    6,    # CANNOT_PARSE_TEXT
    27,   # CANNOT_PARSE_INPUT_ASSERTION_FAILED
    36,   # BAD_ARGUMENTS
    38,   # CANNOT_PARSE_DATE
    41,   # CANNOT_PARSE_DATETIME
    53,   # TYPE_MISMATCH
    69,   # ARGUMENT_OUT_OF_BOUND
    70,   # CANNOT_CONVERT_TYPE
    72,   # CANNOT_PARSE_NUMBER
    117,  # INCORRECT_DATA
    349,  # CANNOT_INSERT_NULL_IN_ORDINARY_COLUMN
    469,  # VIOLATED_CONSTRAINT
    691,  # UNKNOWN_ELEMENT_OF_ENUM
})


class Overloaded(RuntimeError):
    """Too many rows are waiting for ClickHouse; the caller must refuse the input (503)."""


class WriterClosed(RuntimeError):
    """The writer is shutting down and takes no more rows."""


class NotDurable(RuntimeError):
    """The writer stopped before these rows could be written, or they were taken back."""


class Rejected(ValueError):
    """ClickHouse can never store these rows (a value does not fit its column)."""


def is_permanent(exc: BaseException) -> bool:
    if isinstance(exc, DataError | ValueError | TypeError | OverflowError | struct.error):
        return True
    return isinstance(exc, DatabaseError) and getattr(exc, "code", None) in PERMANENT_CODES


def may_have_stored(exc: BaseException, *, embedded: bool) -> bool:
    """Whether the failed insert that raised ``exc`` can have stored its rows all the same."""
    if embedded:  # in-process and synchronous: an insert that raised did not commit
        return False
    seen: set[int] = set()
    cause: BaseException | None = exc
    while cause is not None and id(cause) not in seen:
        seen.add(id(cause))
        if isinstance(cause, ConnectTimeoutError | ConnectionRefusedError | socket.gaierror):
            return False  # no connection, so no request
        if isinstance(cause, DatabaseError) and getattr(cause, "code", None):
            return False  # ClickHouse's own answer (X-ClickHouse-Exception-Code): the insert failed
        cause = cause.__cause__ or cause.__context__
    return True
