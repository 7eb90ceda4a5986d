"""The log's order and its kind filter for a distributor, whose entries are an OR (its
own, or its partners' without a distributor): with the scope columns in these indexes,
PostgreSQL tests that OR on the index's entries instead of on each row's page (an
index-only scan; docs/audit.md, "At scale"). The log's order serves staff as before.

Rebuilt under the models' names, so the model state (plain indexes; SQLite has no
INCLUDE) still holds. A migration of its own: 0001's indexes are made at its end."""

from django.db import migrations

from wlm.lib.migrations import RunSQLOnPostgreSQL

INCLUDE = """
DROP INDEX audit_at_idx;
CREATE INDEX audit_at_idx ON audit_auditentry (at DESC, id DESC)
    INCLUDE (distributor_id, partner_id);
DROP INDEX audit_kind_idx;
CREATE INDEX audit_kind_idx ON audit_auditentry (kind, at DESC, id DESC)
    INCLUDE (distributor_id, partner_id);
"""
WITHOUT = """
DROP INDEX audit_at_idx;
CREATE INDEX audit_at_idx ON audit_auditentry (at DESC, id DESC);
DROP INDEX audit_kind_idx;
CREATE INDEX audit_kind_idx ON audit_auditentry (kind, at DESC, id DESC);
"""


class Migration(migrations.Migration):
    dependencies = [("audit", "0001_audit_log")]

    operations = [RunSQLOnPostgreSQL(INCLUDE, WITHOUT)]
