# The locations list filters by its license's status for a distributor, a partner or an
# organization (docs/performance.md): CurrentLicense copies the license's tenants too
# (written by wlm.licenses.current with its status), so the license's tenancy door is
# passed on the stored row from a (tenant, status) index, without joining the license.
# No foreign key constraints: the license's own keep its tenants.

import django.db.models.deletion
from django.db import migrations, models
from django.db.models import OuterRef, Subquery


def fill(apps, schema_editor):
    """Each row's copies of its license's tenants (NULL without a license)."""
    CurrentLicense = apps.get_model("licenses", "CurrentLicense")
    License = apps.get_model("licenses", "License")
    license = License.objects.filter(pk=OuterRef("license_id"))
    CurrentLicense.objects.using(schema_editor.connection.alias).filter(
        license__isnull=False
    ).update(
        **{
            name: Subquery(license.values(name)[:1])
            for name in ("distributor_id", "partner_id", "organization_id")
        }
    )


class Migration(migrations.Migration):
    dependencies = [
        ("licenses", "0014_tenant_status_end_indexes"),
        ("locations", "0007_installation_mode"),
        ("tenancy", "0010_api_tokens"),
    ]

    operations = [
        migrations.AddField(
            model_name="currentlicense",
            name="distributor",
            field=models.ForeignKey(
                db_constraint=False,
                db_index=False,
                editable=False,
                null=True,
                on_delete=django.db.models.deletion.DO_NOTHING,
                related_name="+",
                to="tenancy.distributor",
                verbose_name="distributor",
            ),
        ),
        migrations.AddField(
            model_name="currentlicense",
            name="organization",
            field=models.ForeignKey(
                db_constraint=False,
                db_index=False,
                editable=False,
                null=True,
                on_delete=django.db.models.deletion.DO_NOTHING,
                related_name="+",
                to="tenancy.organization",
                verbose_name="organization",
            ),
        ),
        migrations.AddField(
            model_name="currentlicense",
            name="partner",
            field=models.ForeignKey(
                db_constraint=False,
                db_index=False,
                editable=False,
                null=True,
                on_delete=django.db.models.deletion.DO_NOTHING,
                related_name="+",
                to="tenancy.partner",
                verbose_name="partner",
            ),
        ),
        migrations.RunPython(fill, migrations.RunPython.noop, elidable=True),
        migrations.AddIndex(
            model_name="currentlicense",
            index=models.Index(fields=["distributor", "status"], name="current_distributor_idx"),
        ),
        migrations.AddIndex(
            model_name="currentlicense",
            index=models.Index(fields=["partner", "status"], name="current_partner_idx"),
        ),
        migrations.AddIndex(
            model_name="currentlicense",
            index=models.Index(fields=["organization", "status"], name="current_organization_idx"),
        ),
    ]
