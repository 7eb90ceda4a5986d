"""Migration operations that only touch PostgreSQL: its trigram (``pg_trgm``) and
covering indexes. SQLite keeps the same migration history and skips them."""

from django.db import migrations


def _on_postgresql(schema_editor) -> bool:
    return schema_editor.connection.vendor == "postgresql"


class AddIndexOnPostgreSQL(migrations.AddIndex):
    """``AddIndex`` of an index only PostgreSQL can build (GIN with ``gin_trgm_ops``).

    The model state has the index on every database, so ``makemigrations`` sees the
    model's ``Meta.indexes`` as migrated; only PostgreSQL builds it.
    """

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if _on_postgresql(schema_editor):
            super().database_forwards(app_label, schema_editor, from_state, to_state)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if _on_postgresql(schema_editor):
            super().database_backwards(app_label, schema_editor, from_state, to_state)


class RunSQLOnPostgreSQL(migrations.RunSQL):
    """SQL for PostgreSQL only (e.g. an index with ``INCLUDE`` columns, which Django's
    model checks would flag on SQLite); no model state."""

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if _on_postgresql(schema_editor):
            super().database_forwards(app_label, schema_editor, from_state, to_state)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if _on_postgresql(schema_editor):
            super().database_backwards(app_label, schema_editor, from_state, to_state)
