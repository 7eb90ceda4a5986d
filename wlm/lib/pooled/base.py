"""Django's PostgreSQL backend, with server-side cursors only inside a transaction.

Behind PgBouncer in transaction mode a client keeps its server connection only for a
transaction. ``QuerySet.iterator()`` in autocommit declares a ``WITH HOLD`` cursor and
fetches from it in later statements, which may reach another server connection (where
the cursor does not exist) or leave the cursor open on one that another client gets
next. Django's ``DISABLE_SERVER_SIDE_CURSORS`` avoids that by never declaring a cursor,
but then an export inside its own transaction (``wlm.lib.csv.reading``: a ``WITHOUT
HOLD`` cursor, every fetch on one server connection) would hold all of its rows in
memory. Here an ``iterator()`` outside a transaction reads through an ordinary cursor,
as ``DISABLE_SERVER_SIDE_CURSORS`` would (a form's choices, a migration's loop), and one
inside a transaction keeps its server-side cursor, which ends with the transaction.
"""

from django.db.backends.postgresql import base


class DatabaseWrapper(base.DatabaseWrapper):
    def chunked_cursor(self):
        if self.get_autocommit():  # no transaction to hold the cursor's server connection
            return self.cursor()
        return super().chunked_cursor()
