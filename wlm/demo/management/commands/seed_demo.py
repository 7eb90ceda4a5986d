"""``manage.py seed_demo``: demo tenants, users, locations, elements and licenses.

Idempotent. Running it twice changes nothing: every row is found by its natural key
first, and the licenses (``wlm.demo.licenses``) are made only while the demo's
locations hold no license or request yet. The demo logins are printed at the end and
listed in README.md.
"""

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils.translation import gettext

from wlm.demo import licenses
from wlm.lib.languages import OperatorLanguage
from wlm.locations.models import AccessPoint, Location, Room
from wlm.tenancy.models import Distributor, Membership, Organization, Partner, Role, TenantType

DEMO_PASSWORD = "wifi-demo-2026"

DISTRIBUTORS = {
    "Iberia Wireless Distribution": "notices@iberia-wireless.example",
    "Pacific Networks Supply": "licensing@pacific-networks.example",
}
PARTNERS = {
    "Costa Integraciones": ("avisos@costa-integraciones.example", ["Iberia Wireless Distribution"]),
    "Atlantic Systems": (
        "ops@atlantic-systems.example",
        ["Iberia Wireless Distribution", "Pacific Networks Supply"],
    ),
    "Kiwi Connect": ("support@kiwi-connect.example", ["Pacific Networks Supply"]),
}
ORGANIZATIONS = {
    "Hotel Mar Azul": ("it@hotelmarazul.example", "Costa Integraciones"),
    "Mercado Central": ("sistemas@mercadocentral.example", "Costa Integraciones"),
    "Atlantic Offices Group": ("facilities@atlantic-offices.example", "Atlantic Systems"),
    "Lisbon Learning Campus": ("net@lisbon-campus.example", "Atlantic Systems"),
    "Harbour Hotels Auckland": ("it@harbourhotels.example", "Kiwi Connect"),
}
# name: (organization, sector, time zone, address, country, access points, rooms)
LOCATIONS = {
    "Mar Azul Benidorm": (
        "Hotel Mar Azul",
        "hospitality",
        "Europe/Madrid",
        "Av. del Mediterráneo 12, Benidorm",
        "ES",
        4,
        24,
    ),
    "Mar Azul Málaga": (
        "Hotel Mar Azul",
        "hospitality",
        "Europe/Madrid",
        "Paseo Marítimo 3, Málaga",
        "ES",
        3,
        16,
    ),
    "Mercado Central Valencia": (
        "Mercado Central",
        "retail",
        "Europe/Madrid",
        "Plaza Ciudad de Brujas s/n, Valencia",
        "ES",
        6,
        0,
    ),
    "Mercado Central Canarias": (
        "Mercado Central",
        "retail",
        "Atlantic/Canary",
        "Calle Mayor de Triana 5, Las Palmas",
        "ES",
        2,
        0,
    ),
    "Atlantic HQ Lisbon": (
        "Atlantic Offices Group",
        "office",
        "Europe/Lisbon",
        "Avenida da Liberdade 110, Lisboa",
        "PT",
        8,
        0,
    ),
    "Atlantic Porto Hub": (
        "Atlantic Offices Group",
        "office",
        "Europe/Lisbon",
        "Rua de Santa Catarina 40, Porto",
        "PT",
        3,
        0,
    ),
    "Atlantic Azores Desk": (
        "Atlantic Offices Group",
        "office",
        "Atlantic/Azores",
        "Rua Direita 7, Ponta Delgada",
        "PT",
        1,
        0,
    ),
    "Campus Library": (
        "Lisbon Learning Campus",
        "education",
        "Europe/Lisbon",
        "Alameda da Universidade, Lisboa",
        "PT",
        10,
        0,
    ),
    "Campus Plaza": (
        "Lisbon Learning Campus",
        "public",
        "Europe/Lisbon",
        "Campo Grande 16, Lisboa",
        "PT",
        2,
        0,
    ),
    "Harbour Hotel Viaduct": (
        "Harbour Hotels Auckland",
        "hospitality",
        "Pacific/Auckland",
        "Viaduct Harbour 1, Auckland",
        "NZ",
        5,
        30,
    ),
    "Harbour Hotel Queenstown": (
        "Harbour Hotels Auckland",
        "hospitality",
        "Pacific/Auckland",
        "Lake Esplanade 9, Queenstown",
        "NZ",
        2,
        12,
    ),
    "Harbour Conference Centre": (
        "Harbour Hotels Auckland",
        "other",
        "Pacific/Auckland",
        "Quay Street 100, Auckland",
        "NZ",
        3,
        0,
    ),
}
# Tenants and users in Spain read their notices in Spanish; the rest in English.
SPANISH = {
    "Iberia Wireless Distribution",
    "Costa Integraciones",
    "Hotel Mar Azul",
    "Mercado Central",
}
# username: (tenant type, tenant name or None, role)
USERS = {
    "staff": (TenantType.STAFF, None, Role.ADMIN),
    "staff-viewer": (TenantType.STAFF, None, Role.VIEWER),
    "gateway": (TenantType.STAFF, None, Role.GATEWAY),
    "iberia": (TenantType.DISTRIBUTOR, "Iberia Wireless Distribution", Role.ADMIN),
    "iberia-viewer": (TenantType.DISTRIBUTOR, "Iberia Wireless Distribution", Role.VIEWER),
    "pacific": (TenantType.DISTRIBUTOR, "Pacific Networks Supply", Role.ADMIN),
    "costa": (TenantType.PARTNER, "Costa Integraciones", Role.ADMIN),
    "costa-viewer": (TenantType.PARTNER, "Costa Integraciones", Role.VIEWER),
    "atlantic": (TenantType.PARTNER, "Atlantic Systems", Role.ADMIN),
    "kiwi": (TenantType.PARTNER, "Kiwi Connect", Role.ADMIN),
    "marazul": (TenantType.ORGANIZATION, "Hotel Mar Azul", Role.ADMIN),
    "marazul-viewer": (TenantType.ORGANIZATION, "Hotel Mar Azul", Role.VIEWER),
    "mercado": (TenantType.ORGANIZATION, "Mercado Central", Role.ADMIN),
    "offices": (TenantType.ORGANIZATION, "Atlantic Offices Group", Role.ADMIN),
    "campus": (TenantType.ORGANIZATION, "Lisbon Learning Campus", Role.ADMIN),
    "harbour": (TenantType.ORGANIZATION, "Harbour Hotels Auckland", Role.ADMIN),
}


def _language(tenant_name: str | None) -> str:
    return "es" if tenant_name in SPANISH else "en"


def _mac(location_index: int, ap_index: int) -> str:
    octets = [0x02, 0x57, 0x4C, location_index, ap_index >> 8, ap_index & 0xFF]
    return ":".join(f"{octet:02X}" for octet in octets)


class Command(OperatorLanguage, BaseCommand):
    @property
    def help(self) -> str:
        # translated when the help is printed (argparse takes no lazy strings)
        return gettext(
            "Load the demo tenants, users, locations, access points, rooms and licenses "
            "in every status (idempotent)."
        )

    def add_arguments(self, parser):
        parser.add_argument(
            "--logins-only", action="store_true", help=gettext("Only print the demo logins.")
        )

    def handle(self, *args, **options):
        if not options["logins_only"]:
            licensed = self.seed()
            if not licensed:
                self.stdout.write(gettext("Demo licenses exist already: left as they are."))
            self.stdout.write(self.style.SUCCESS(gettext("Demo data ready.")))
            self.stdout.write(licenses.summary())
        self.stdout.write(
            gettext("Demo logins (password %(password)s):") % {"password": DEMO_PASSWORD}
        )
        for username, (tenant_type, tenant_name, role) in USERS.items():
            self.stdout.write(f"  {username:<15} {tenant_type:<13} {role:<8} {tenant_name or ''}")

    @transaction.atomic
    def seed(self) -> bool:
        """Everything in one transaction; whether the demo licenses were made now."""
        distributors = {
            name: Distributor.objects.get_or_create(
                name=name, defaults={"email": email, "language": _language(name)}
            )[0]
            for name, email in DISTRIBUTORS.items()
        }
        partners = {}
        for name, (email, distributor_names) in PARTNERS.items():
            partner = Partner.objects.get_or_create(
                name=name, defaults={"email": email, "language": _language(name)}
            )[0]
            partner.distributors.add(*(distributors[d] for d in distributor_names))
            partners[name] = partner
        organizations = {
            name: Organization.objects.get_or_create(
                name=name,
                partner=partners[partner_name],
                defaults={"email": email, "language": _language(name)},
            )[0]
            for name, (email, partner_name) in ORGANIZATIONS.items()
        }
        locations = {}
        for index, (name, spec) in enumerate(LOCATIONS.items(), start=1):
            org_name, sector, tz, address, country, ap_count, room_count = spec
            location = Location.objects.get_or_create(
                organization=organizations[org_name],
                name=name,
                defaults={"sector": sector, "timezone": tz, "address": address, "country": country},
            )[0]
            locations[name] = location
            for ap in range(1, ap_count + 1):
                AccessPoint.objects.get_or_create(
                    location=location, mac=_mac(index, ap), defaults={"name": f"AP {ap:02d}"}
                )
            for room in range(1, room_count + 1):
                floor, number = divmod(room - 1, 10)
                Room.objects.get_or_create(location=location, number=f"{floor + 1}{number + 1:02d}")

        User = get_user_model()
        tenants = {
            TenantType.DISTRIBUTOR: distributors,
            TenantType.PARTNER: partners,
            TenantType.ORGANIZATION: organizations,
        }
        for username, (tenant_type, tenant_name, role) in USERS.items():
            is_staff_admin = tenant_type == TenantType.STAFF and role == Role.ADMIN
            user, created = User.objects.get_or_create(
                username=username,
                defaults={
                    "email": f"{username}@demo.example",
                    # the staff admin also uses Django's admin site
                    "is_staff": is_staff_admin,
                    "is_superuser": is_staff_admin,
                },
            )
            if created:
                user.set_password(DEMO_PASSWORD)
                user.save(update_fields=["password"])
            tenant = tenants[tenant_type][tenant_name] if tenant_name else None
            Membership.objects.get_or_create(
                user=user,
                defaults={
                    "tenant_type": tenant_type,
                    "role": role,
                    "language": _language(tenant_name),
                    **({tenant_type: tenant} if tenant else {}),
                },
            )
        return licenses.seed_licenses(locations)
