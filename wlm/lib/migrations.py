"""PostgreSQL-only indexes: the trigram (``pg_trgm``) index of ``q`` as models declare
it, and the migration operations that build such indexes on PostgreSQL only. SQLite
keeps the same migration history and skips them. Also indexes built CONCURRENTLY on
PostgreSQL (and plainly on SQLite), for tables that are written while a migration runs
(docs/operations.md, "Upgrades")."""

from contextlib import contextmanager

from django.contrib.postgres.indexes import GinIndex, OpClass
from django.contrib.postgres.operations import AddIndexConcurrently, RemoveIndexConcurrently
from django.db import migrations
from django.db.models import TextField
from django.db.models.functions import Cast, Upper

from wlm.lib.search import Fold


def trigram_index(field: str, name: str) -> GinIndex:
    """A trigram index on ``UPPER(field::text)``, the expression Django's ``icontains``
    compares on PostgreSQL: ``q`` reads it instead of scanning the table. Declared in
    ``Meta.indexes``, built by ``AddIndexOnPostgreSQL``."""
    return GinIndex(OpClass(Upper(Cast(field, TextField())), name="gin_trgm_ops"), name=name)


def folded_trigram_index(field: str, name: str) -> GinIndex:
    """A trigram index on ``wlm_fold(field)``, the accent- and case-blind form ``q``
    compares (wlm/lib/search.py). Declared in ``Meta.indexes``, built by
    ``AddIndexOnPostgreSQL`` after the function's migration (tenancy 0007)."""
    return GinIndex(OpClass(Fold(field), name="gin_trgm_ops"), name=name)


def _on_postgresql(schema_editor) -> bool:
    return schema_editor.connection.vendor == "postgresql"


class _OnPostgreSQLOnly:
    """The operation runs on PostgreSQL and is skipped elsewhere, both ways."""

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if _on_postgresql(schema_editor):
            super().database_forwards(app_label, schema_editor, from_state, to_state)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if _on_postgresql(schema_editor):
            super().database_backwards(app_label, schema_editor, from_state, to_state)


class AddIndexOnPostgreSQL(_OnPostgreSQLOnly, migrations.AddIndex):
    """``AddIndex`` of an index only PostgreSQL can build (GIN with ``gin_trgm_ops``).

    The model state has the index on every database, so ``makemigrations`` sees the
    model's ``Meta.indexes`` as migrated; only PostgreSQL builds it.
    """


class RemoveIndexOnPostgreSQL(_OnPostgreSQLOnly, migrations.RemoveIndex):
    """``RemoveIndex`` of an index ``AddIndexOnPostgreSQL`` built."""


class RunSQLOnPostgreSQL(_OnPostgreSQLOnly, migrations.RunSQL):
    """SQL for PostgreSQL only (e.g. an index with ``INCLUDE`` columns, which Django's
    model checks would flag on SQLite); no model state."""


class AddIndexConcurrentlyOnPostgreSQL(AddIndexConcurrently):
    """CREATE INDEX CONCURRENTLY on PostgreSQL (writes go on while it is built: safe while
    the app runs; the migration must be ``atomic = False``), a plain AddIndex elsewhere."""

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if _on_postgresql(schema_editor):
            return super().database_forwards(app_label, schema_editor, from_state, to_state)
        return migrations.AddIndex.database_forwards(
            self, app_label, schema_editor, from_state, to_state
        )

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if _on_postgresql(schema_editor):
            return super().database_backwards(app_label, schema_editor, from_state, to_state)
        return migrations.AddIndex.database_backwards(
            self, app_label, schema_editor, from_state, to_state
        )


class RemoveIndexConcurrentlyOnPostgreSQL(RemoveIndexConcurrently):
    """DROP INDEX CONCURRENTLY on PostgreSQL, a plain RemoveIndex elsewhere."""

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if _on_postgresql(schema_editor):
            return super().database_forwards(app_label, schema_editor, from_state, to_state)
        return migrations.RemoveIndex.database_forwards(
            self, app_label, schema_editor, from_state, to_state
        )

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if _on_postgresql(schema_editor):
            return super().database_backwards(app_label, schema_editor, from_state, to_state)
        return migrations.RemoveIndex.database_backwards(
            self, app_label, schema_editor, from_state, to_state
        )


class AddConstraintBesidePostgreSQLIndexes(migrations.AddConstraint):
    """``AddConstraint`` on a table that has indexes only PostgreSQL builds
    (``AddIndexOnPostgreSQL``). SQLite adds a constraint by rebuilding the table, with
    every index of the model's state: the PostgreSQL-only ones are left out there, as
    they were when the table was made."""

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        with _without_postgresql_indexes(schema_editor, to_state, app_label, self.model_name):
            super().database_forwards(app_label, schema_editor, from_state, to_state)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        with _without_postgresql_indexes(schema_editor, to_state, app_label, self.model_name):
            super().database_backwards(app_label, schema_editor, from_state, to_state)


@contextmanager
def _without_postgresql_indexes(schema_editor, state, app_label: str, model_name: str):
    """The state's model without its GIN indexes while the block runs, off PostgreSQL."""
    if _on_postgresql(schema_editor):
        yield
        return
    meta = state.apps.get_model(app_label, model_name)._meta
    kept = meta.indexes
    meta.indexes = [index for index in kept if not isinstance(index, GinIndex)]
    try:
        yield
    finally:
        meta.indexes = kept
