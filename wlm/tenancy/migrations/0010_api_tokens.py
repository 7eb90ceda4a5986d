"""Named, hashed API tokens (wlm.tenancy.tokens), and the keys of DRF's former tokens moved
into them: each key of ``authtoken_token`` becomes a ``write`` token named "API token"
(its prefix and SHA-256; the key itself is not kept), so the clients that hold one keep
working; then DRF's table, which held the keys in plain text, is dropped (with its
migrations' records: ``rest_framework.authtoken`` is no longer installed)."""

import datetime as dt
import hashlib

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

import wlm.lib.clock
import wlm.lib.validators

LEGACY_TABLE = "authtoken_token"


def _aware(value):
    """A raw column's moment: SQLite gives text or a naive UTC datetime."""
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value


def move_legacy_keys(apps, schema_editor):
    connection = schema_editor.connection
    if LEGACY_TABLE not in connection.introspection.table_names():
        return
    ApiToken = apps.get_model("tenancy", "ApiToken")
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT key, user_id, created FROM {LEGACY_TABLE}")  # noqa: S608
        rows = cursor.fetchall()
    ApiToken.objects.bulk_create(
        ApiToken(
            user_id=user_id,
            name="API token",
            scope="write",
            prefix=key[:12],
            digest=hashlib.sha256(key.encode()).hexdigest(),
            created=_aware(created),
        )
        for key, user_id, created in rows
    )
    schema_editor.execute(f"DROP TABLE {schema_editor.quote_name(LEGACY_TABLE)}")
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM django_migrations WHERE app = %s", ["authtoken"])


class Migration(migrations.Migration):
    dependencies = [
        ("tenancy", "0009_saved_views"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="ApiToken",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "name",
                    models.CharField(
                        max_length=100,
                        validators=[wlm.lib.validators.validate_one_line],
                        verbose_name="name",
                    ),
                ),
                (
                    "scope",
                    models.CharField(
                        choices=[("read", "Read only"), ("write", "Read and write")],
                        default="write",
                        max_length=10,
                        verbose_name="scope",
                    ),
                ),
                ("prefix", models.CharField(editable=False, max_length=12, verbose_name="prefix")),
                ("digest", models.CharField(editable=False, max_length=64)),
                (
                    "created",
                    models.DateTimeField(
                        default=wlm.lib.clock.now, editable=False, verbose_name="created"
                    ),
                ),
                ("expires", models.DateTimeField(blank=True, null=True, verbose_name="expires")),
                (
                    "last_used",
                    models.DateTimeField(
                        blank=True, editable=False, null=True, verbose_name="last used"
                    ),
                ),
                (
                    "revoked",
                    models.DateTimeField(
                        blank=True, editable=False, null=True, verbose_name="revoked"
                    ),
                ),
                (
                    "user",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="api_tokens",
                        to=settings.AUTH_USER_MODEL,
                        verbose_name="user",
                    ),
                ),
            ],
            options={
                "verbose_name": "API token",
                "verbose_name_plural": "API tokens",
                "ordering": ["-created", "-id"],
                "indexes": [models.Index(fields=["prefix"], name="api_token_prefix")],
            },
        ),
        # the keys cannot come back: nothing to undo but the rows, which go with the table
        migrations.RunPython(move_legacy_keys, migrations.RunPython.noop),
    ]
