"""The database away (docs/dataplane.md, "When the database is away").

PostgreSQL stopped, restarting, failing over or out of reach shows as Django's
``OperationalError`` (no connection, the connection lost, the server shutting down, a
statement cancelled) or ``InterfaceError`` (a query on a connection already closed):
``AWAY``. They are the errors a client fixes by waiting, so they are answered ``503`` with
``Retry-After`` (``wlm.lib.problems``), never ``500``; every other database error (a
broken constraint, bad SQL) stays what it was. The broken connection is dropped, so the
next request opens a new one and nothing waits for a restart.
"""

from __future__ import annotations

import logging

from django.db import DEFAULT_DB_ALIAS, InterfaceError, OperationalError, connections
from django.dispatch import Signal

AWAY = (OperationalError, InterfaceError)
# seconds a 503 asks the client to wait: a restart or a failover takes about that long,
# and a gateway's retry (with its Idempotency-Key) then finds the database back
RETRY_AFTER = 5
# sent with ``error`` when an API view met the database away and answered 503 itself
# (Django's own 500 path sends ``got_request_exception``): wlm.operations counts it
answered_away = Signal()


def is_away(error: BaseException | None) -> bool:
    return isinstance(error, AWAY)


def drop_connection(alias: str = DEFAULT_DB_ALIAS) -> None:
    """Close this thread's connection so that the next query opens a new one. A
    connection inside a transaction (a test's) is left to its owner."""
    connection = connections[alias]
    if not connection.in_atomic_block:
        connection.close()


class WithoutTraceback(logging.Filter):
    """On ``django.request``: the line of a 503 for the database away keeps no traceback
    (the same one for every request of an outage); every other line is left as it is."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if getattr(record, "status_code", None) == 503 and is_away(error):
            record.msg = f"{record.msg} (the database is away: %s)"
            record.args = (*record.args, str(error).strip().splitlines()[0])
            record.exc_info = None
        return True
