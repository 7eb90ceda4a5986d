"""The append-only trigger lets the retention delete what is past it, and nothing else.

UPDATE stays refused, always. DELETE is refused unless the deleting transaction declared
its horizon — ``SELECT set_config('wlm.audit_expire_before', <timestamp>, true)``, a
transaction-local setting (``SET LOCAL``: gone at COMMIT or ROLLBACK, so it never leaks to
the next transaction on a pooled connection) — and the entry is older than that horizon.
``wlm.audit.services.expire`` is the one caller; an ordinary DELETE, from the application,
the admin or psql, is refused as before.

Safe while old nodes run: it replaces the function's body only (``CREATE OR REPLACE``);
the trigger, the table and what old code does are unchanged.
"""

from django.db import migrations

from wlm.lib.migrations import RunSQLOnPostgreSQL

EXPIRE_PAST_HORIZON = """
CREATE OR REPLACE FUNCTION audit_entry_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    horizon text := current_setting('wlm.audit_expire_before', true);
BEGIN
    IF TG_OP = 'DELETE' AND horizon IS NOT NULL AND horizon <> ''
            AND OLD.at < horizon::timestamptz THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION 'audit entries are append-only (% refused)', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END $$;
"""
APPEND_ONLY = """
CREATE OR REPLACE FUNCTION audit_entry_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit entries are append-only (% refused)', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END $$;
"""


class Migration(migrations.Migration):
    dependencies = [
        ("audit", "0004_partner_kind_index"),
    ]

    operations = [RunSQLOnPostgreSQL(EXPIRE_PAST_HORIZON, APPEND_ONLY)]
