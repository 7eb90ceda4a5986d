"""``manage.py audit_bench``: the audit log at scale, on PostgreSQL (docs/audit.md, "At
scale").

``--entries N`` first adds N generated entries (one ``INSERT … SELECT`` over
``generate_series`` per chunk, every index in place, as the log grows in production):
tenants of their own (``Bench`` distributors, partners — one in ten works with two
distributors — and organizations), entries spread over two years, every kind, each with
its tenant chain. Then it reads the log's first page as the API does (the tenancy door,
the FilterSet, the capped paginator, the serializer) as staff, a distributor, a partner
and an organization, without and with the common filters, and prints the p50 and p95 of
``--calls`` reads and each read's plan (``--plans``). Throwaway data: run it on a
database of its own.
"""

from __future__ import annotations

import statistics
import time

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import connection, transaction

from wlm.audit.api import AuditEntrySerializer
from wlm.audit.filters import AuditFilterSet
from wlm.audit.models import AuditEntry, Kind
from wlm.lib.pagination import CappedPaginator
from wlm.tenancy.models import Distributor, Membership, Organization, Partner, Role, TenantType

DISTRIBUTORS = 20
PARTNERS_PER_DISTRIBUTOR = 25
ORGANIZATIONS_PER_PARTNER = 40
CHUNK = 250_000
KINDS = [value for value, _label in Kind.choices]

# One entry: its chain drawn from the organization ``o`` (1-based, in id order), the rest
# from the row number ``g``. Shares: licenses 45 % (distributor + partner + organization),
# an organization's 30 %, a partner's 10 %, a distributor's 5 %, the platform's 10 %.
INSERT = """
INSERT INTO audit_auditentry (
    at, actor_id, actor_name, kind, tenant_type, tenant_id, distributor_id, partner_id,
    organization_id, object_type, object_id, object_label, before, after, address, user_agent
)
SELECT
    now() - interval '730 days' * (1 - g::float / %(total)s),
    CASE WHEN share < 95 THEN 1 + (g %% 5000) END,
    CASE WHEN share < 95 THEN 'user' || (g %% 5000) ELSE 'system' END,
    (%(kinds)s::text[])[1 + (g %% %(kind_count)s)],
    CASE WHEN share < 75 THEN 'organization' WHEN share < 85 THEN 'partner'
         WHEN share < 90 THEN 'distributor' ELSE 'staff' END,
    CASE WHEN share < 75 THEN o.id WHEN share < 85 THEN o.partner_id
         WHEN share < 90 THEN d.distributor_id END,
    CASE WHEN share < 45 OR share BETWEEN 85 AND 89 THEN d.distributor_id END,
    CASE WHEN share < 85 THEN o.partner_id END,
    CASE WHEN share < 75 THEN o.id END,
    'locations.location', (g %% 100000)::text,
    'Location ' || (g %% 100000) || ' · AP ' || upper(to_hex(g)),
    '{"status": "in_use"}'::jsonb, '{"status": "access_denied", "reason": "unpaid"}'::jsonb,
    '198.51.100.7'::inet, 'Mozilla/5.0 (bench)'
FROM (
    SELECT g, (g * 7919) %% 100 AS share, (g * 104729) %% %(organizations)s AS n
    FROM generate_series(%(first)s::bigint, %(last)s::bigint) AS g
) AS rows
JOIN (SELECT id, partner_id, row_number() OVER (ORDER BY id) - 1 AS n
      FROM tenancy_organization WHERE name LIKE 'Bench %%') AS o USING (n)
JOIN LATERAL (SELECT min(distributor_id) AS distributor_id FROM tenancy_partner_distributors
              WHERE partner_id = o.partner_id) AS d ON true
"""


class Command(BaseCommand):
    help = "Generate audit entries and measure the log's first page at scale (PostgreSQL)."

    def add_arguments(self, parser):
        parser.add_argument("--entries", type=int, default=0, help="Entries to add first.")
        parser.add_argument("--calls", type=int, default=20, help="Reads per case.")
        parser.add_argument("--plans", action="store_true", help="Print each case's plan.")

    def handle(self, *args, entries: int, calls: int, plans: bool, **options):
        if connection.vendor != "postgresql":
            raise CommandError("The audit benchmark runs on PostgreSQL.")
        self.tenants()
        if entries:
            self.generate(entries)
        self.measure(calls, plans)

    # --- data ---------------------------------------------------------------------------

    def tenants(self) -> None:
        if Distributor.objects.filter(name__startswith="Bench ").exists():
            return
        with transaction.atomic():
            distributors = Distributor.objects.bulk_create(
                Distributor(name=f"Bench Distributor {n}") for n in range(DISTRIBUTORS)
            )
            partners = Partner.objects.bulk_create(
                Partner(name=f"Bench Partner {n}")
                for n in range(DISTRIBUTORS * PARTNERS_PER_DISTRIBUTOR)
            )
            links = []
            for n, partner in enumerate(partners):
                first = distributors[n // PARTNERS_PER_DISTRIBUTOR]
                links.append(Partner.distributors.through(partner=partner, distributor=first))
                if n % 10 == 0:  # one partner in ten works with the next distributor too
                    second = distributors[(n // PARTNERS_PER_DISTRIBUTOR + 1) % DISTRIBUTORS]
                    links.append(Partner.distributors.through(partner=partner, distributor=second))
            Partner.distributors.through.objects.bulk_create(links)
            Organization.objects.bulk_create(
                Organization(name=f"Bench Organization {n}", partner=partner)
                for partner in partners
                for n in range(ORGANIZATIONS_PER_PARTNER)
            )

    def generate(self, entries: int) -> None:
        organizations = Organization.objects.filter(name__startswith="Bench ").count()
        start = (AuditEntry.objects.order_by("-id").values_list("id", flat=True).first() or 0) + 1
        began = time.perf_counter()
        for first in range(start, start + entries, CHUNK):
            last = min(first + CHUNK, start + entries) - 1
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute(
                    INSERT,
                    {
                        "kinds": KINDS,
                        "kind_count": len(KINDS),
                        "organizations": organizations,
                        "first": first,
                        "last": last,
                        "total": start + entries,
                    },
                )
            took = time.perf_counter() - began
            self.stdout.write(f"  {last - start + 1:,} entries ({took:.0f} s)")
        with connection.cursor() as cursor:
            # as autovacuum would after so many inserts: the visibility map (index-only
            # scans) and the planner's statistics
            cursor.execute("VACUUM ANALYZE audit_auditentry")

    # --- reads --------------------------------------------------------------------------

    def user(self, name: str, tenant_type: str, tenant=None):
        user, created = get_user_model().objects.get_or_create(username=f"bench-audit-{name}")
        if created:
            Membership.objects.create(
                user=user,
                tenant_type=tenant_type,
                role=Role.ADMIN,
                **({tenant_type: tenant} if tenant is not None else {}),
            )
        return get_user_model().objects.select_related("membership").get(pk=user.pk)

    def measure(self, calls: int, plans: bool) -> None:
        distributor = Distributor.objects.filter(name__startswith="Bench ").order_by("id").first()
        partner = distributor.partners.order_by("id").first()  # one of the shared ones
        organization = Organization.objects.filter(partner=partner).order_by("id").first()
        users = {
            "staff": self.user("staff", TenantType.STAFF),
            "distributor": self.user("distributor", TenantType.DISTRIBUTOR, distributor),
            "partner": self.user("partner", TenantType.PARTNER, partner),
            "organization": self.user("organization", TenantType.ORGANIZATION, organization),
        }
        total = AuditEntry.objects.count()
        self.stdout.write(
            f"{total:,} entries; p50 / p95 of {calls} reads of page 1 (50 rows) in process, "
            "then the ids query's execution in PostgreSQL (EXPLAIN ANALYZE)"
        )
        cases = [
            ("no filter", {}),
            ("kind", {"kind": ["license_denied"]}),
            ("actor", {"actor": "42"}),
            ("object", {"object_type": "locations.location", "object_id": "4242"}),
            ("last 30 days", {"since": "2026-11-04"}),
            ("q (label)", {"q": "AP 1F4"}),
            ("kind + 90 days", {"kind": ["login_failed"], "since": "2026-09-05"}),
        ]
        for who, user in users.items():
            for name, params in cases:
                timings, count, capped = [], 0, False
                for _call in range(calls):
                    began = time.perf_counter()
                    rows = AuditEntry.objects.visible_to(user).order_by("-at", "-id")
                    filtered = AuditFilterSet(params, queryset=rows)
                    if not filtered.is_valid():
                        raise CommandError(f"{name}: {filtered.errors}")
                    paginator = CappedPaginator(filtered.qs, 50)
                    page = paginator.page(1)
                    AuditEntrySerializer(page.object_list, many=True).data  # noqa: B018
                    timings.append((time.perf_counter() - began) * 1000)
                    count, capped = paginator.shown_count, paginator.capped
                p50 = statistics.median(timings)
                p95 = statistics.quantiles(timings, n=20)[18] if len(timings) > 1 else timings[0]
                shown = f"{count:,}{'+' if capped else ''}"
                plan = self.plan(filtered.qs)
                executed = next(line for line in plan if line.startswith("Execution Time"))
                sql = float(executed.split()[2])
                self.stdout.write(
                    f"{who:<13} {name:<16} {p50:8.1f} ms {p95:8.1f} ms {sql:8.2f} ms   {shown} rows"
                )
                if plans:
                    self.stdout.write("\n".join(f"      {line}" for line in plan))

    def plan(self, rows) -> list[str]:
        """The plan of the page's first query (the ids, up to the count's limit + 1)."""
        ids = rows.values_list("pk", flat=True)[:1001]
        query, params = ids.query.sql_with_params()
        with connection.cursor() as cursor:
            cursor.execute(f"EXPLAIN (ANALYZE, BUFFERS) {query}", params)
            return [line for (line,) in cursor.fetchall()]
