"""The database away, in process: every statement of this thread's connection fails as
it does with PostgreSQL stopped (Django's ``OperationalError``), on SQLite and PostgreSQL
alike. Only the test transaction's own savepoints go through, so the test can go on
once the database is "back". The real thing — a cluster stopped under the production
server — is wlm/tests/test_database_outage.py."""

from __future__ import annotations

import contextlib
import re

from django.db import OperationalError, connection

TRANSACTION_CONTROL = re.compile(r"\s*(SAVEPOINT|RELEASE|ROLLBACK)\b", re.IGNORECASE)
REFUSED = "connection to server failed: Connection refused (the test's outage)"


@contextlib.contextmanager
def database_away():
    """Within the block the database is away; yields the list of the statements that
    were tried (how often the code went to the database)."""
    tried: list[str] = []

    def refuse(execute, sql, params, many, context):
        if TRANSACTION_CONTROL.match(sql):
            return execute(sql, params, many, context)
        tried.append(sql)
        raise OperationalError(REFUSED)

    with connection.execute_wrapper(refuse):
        yield tried
