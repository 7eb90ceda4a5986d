"""The backend of ``DATABASE_POOLER=pgbouncer`` (wlm/lib/pooled): a queryset's
``iterator()`` declares a server-side cursor only inside a transaction, where PgBouncer
in transaction mode keeps one server connection for it; outside one it reads through an
ordinary cursor. Run through PgBouncer too (wlm/tests/test_pgbouncer.py), where a
``WITH HOLD`` cursor is gone before its first fetch."""

import pytest
from django.db import connection, transaction

from wlm.lib.pooled.base import DatabaseWrapper
from wlm.tenancy.models import Organization

pytestmark = [
    pytest.mark.postgres_only,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's cursors"),
]


@pytest.mark.django_db
def test_the_pooled_backend_declares_a_cursor_only_inside_a_transaction():
    pooled = DatabaseWrapper({**connection.settings_dict})  # a connection of its own
    try:
        with pooled.chunked_cursor() as cursor:  # autocommit: no transaction to hold it
            assert not hasattr(cursor.cursor, "name")
        pooled.set_autocommit(False)
        with pooled.chunked_cursor() as cursor:
            assert cursor.cursor.name.startswith("_django_curs_")
            assert cursor.cursor.withhold is False  # it ends with the transaction
        pooled.rollback()
    finally:
        pooled.close()


@pytest.mark.django_db(transaction=True)  # autocommit, as a page's form reads its choices
def test_an_iterator_reads_every_row_outside_and_inside_a_transaction(world):
    expected = list(Organization.objects.order_by("pk").values_list("name", flat=True))
    assert len(expected) >= 2
    names = Organization.objects.order_by("pk").values_list("name", flat=True)
    assert list(names.iterator(chunk_size=1)) == expected
    with transaction.atomic():
        assert list(names.iterator(chunk_size=1)) == expected
