"""Django's PostgreSQL backend for PgBouncer in transaction mode (``DATABASE_POOLER=
pgbouncer``; docs/operations.md, "PgBouncer"): see ``base.DatabaseWrapper``."""
