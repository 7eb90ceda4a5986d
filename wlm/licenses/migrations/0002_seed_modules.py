"""Seed the module catalogue (DESIGN §2). Existing rows are left as staff edited them."""

from django.db import migrations

MODULES = [
    ("guest", "Guest Wi-Fi", "The base module: captive portal, access methods, tickets and "
     "registered users.", False),
    ("business", "Business", "MAC inputs and local accounts.", True),
    ("enterprise", "Enterprise", "802.1X authentication.", True),
    ("easy_auth", "Easy Auth", "MAC caching and access profiles.", True),
    ("pms", "PMS", "Hotel property-management integration: guests log in with room and "
     "surname.", True),
    ("analytics", "Analytics", "Visits, dwell time and reports per location.", True),
]


def seed(apps, schema_editor):
    Module = apps.get_model("licenses", "Module")
    for code, name, description, advanced in MODULES:
        Module.objects.get_or_create(
            code=code, defaults={"name": name, "description": description, "advanced": advanced}
        )


class Migration(migrations.Migration):
    dependencies = [("licenses", "0001_initial")]

    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
