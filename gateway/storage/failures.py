"""What a failed ClickHouse insert means: the writer's exceptions, and how it reads an insert's error.

Two questions are asked of every failure:
- is it permanent (a value the column can never hold: split the batch and reject the bad row) or
  transient (down, slow, a table missing during a deploy: retry the batch under the same token)?
- can the failed attempt have stored the rows anyway? Only two kinds of failure prove it did not: an
  insert that never reached the server (the connection was refused or never completed), and one
  ClickHouse refused with an error it raises before reading any data (``NOTHING_STORED_CODES``).
  Every other failure leaves it open: a read timeout, a connection reset mid-request, an error page
  from a load balancer in front, and any other ClickHouse error, since many are raised while or after
  a part is written (319 UNKNOWN_STATUS_OF_INSERT, 159 TIMEOUT_EXCEEDED waiting for a quorum, 999
  KEEPER_EXCEPTION, 394 QUERY_WAS_CANCELLED, 210 NETWORK_ERROR...). Only rows no attempt can have
  stored may be taken back (``BatchWriter.retract``). Permanent failures never reach this question:
  the writer splits their batch and retries its parts.
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

# ClickHouse error codes raised while the INSERT is parsed, checked or admitted, before the server reads
# its data: such an insert wrote no part. Kept short on purpose; a code missing here only costs a kept
# row (and an ``undelivered`` twin for a grant), a wrong one a grant taken back though stored. Left out
# though they look harmless: 241 MEMORY_LIMIT_EXCEEDED, 242 TABLE_IS_READ_ONLY and 252 TOO_MANY_PARTS,
# which can also be raised block by block or in a materialized view's table after a part was written.
NOTHING_STORED_CODES = frozenset({
    16,   # NO_SUCH_COLUMN_IN_TABLE: a column missing during a deploy
    60,   # UNKNOWN_TABLE
    81,   # UNKNOWN_DATABASE
    164,  # READONLY: the user may not write
    202,  # TOO_MANY_SIMULTANEOUS_QUERIES: refused at admission
    497,  # ACCESS_DENIED
    516,  # AUTHENTICATION_FAILED
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
            # ClickHouse's own answer (X-ClickHouse-Exception-Code): only some prove nothing was written.
            return getattr(cause, "code", None) not in NOTHING_STORED_CODES
        cause = cause.__cause__ or cause.__context__
    return True
