"""CLI commands that read or write ClickHouse, run in the gateway that serves or on their own.

Embedded ClickHouse (chDB) lets one process hold its data folder, so while ``serve`` runs no other
process can open it. A command therefore asks the gateway serving its data folder when one answers,
and does the work itself when none does. The work is an *operation*: an async function registered by
name (``@operation("consent.show")``) that takes an ``OpContext`` and JSON arguments and returns JSON
data, so it runs the same in both places; the CLI only formats what comes back (``run_operation``).

The channel is local only: the gateway listens on the Unix socket ``DATA_DIR/control.sock`` (mode
0600) and writes a fresh random token to ``DATA_DIR/control.token`` (mode 0600) at each start, which
every request must carry. Linux refuses the socket to other users already; the token makes that hold
on systems that ignore a socket's mode. So only the gateway's OS user (and root) can ask. The protocol
is newline-delimited JSON: ``{"op": NAME, "args": {...}, "token": T}`` is answered by ``{"ok": true,
"result": ...}`` or ``{"ok": false, "error": "one line"}``.

With a ClickHouse server URL nothing is held: the gateway opens no channel (several workers would race
for one socket) and commands always connect to the server themselves.

May import ``gateway.config.settings`` and ``gateway.storage``; operation modules (``OPERATION_MODULES``)
import it, the CLI runs operations and the app's lifespan opens the channel.
"""

from gateway.control.client import run_operation
from gateway.control.registry import (
    OPERATION_MODULES,
    ControlError,
    OpContext,
    Operation,
    operation,
    operations,
)
from gateway.control.server import ControlChannel, open_control_channel

__all__ = ["OPERATION_MODULES", "ControlChannel", "ControlError", "OpContext", "Operation",
           "open_control_channel", "operation", "operations", "run_operation"]
