from django.contrib import admin

from wlm.licenses.models import BulkJob, License, LicenseEvent, LicenseRequest, Module


@admin.register(Module)
class ModuleAdmin(admin.ModelAdmin):
    list_display = ["code", "name", "advanced"]
    list_filter = ["advanced"]
    search_fields = ["code", "name"]

    def get_readonly_fields(self, request, obj=None):
        return ["code"] if obj is not None else []


class ReadOnlyAdmin(admin.ModelAdmin):
    """Licenses change only through wlm.licenses.lifecycle: the admin only shows them."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(License)
class LicenseAdmin(ReadOnlyAdmin):
    list_display = ["key", "organization", "status", "license_type", "limit", "end_date"]
    list_filter = ["status", "license_type", "payment"]
    search_fields = ["key", "organization__name"]


@admin.register(LicenseRequest)
class LicenseRequestAdmin(ReadOnlyAdmin):
    list_display = ["id", "kind", "location", "partner", "distributor", "state", "created"]
    list_filter = ["state", "kind"]


@admin.register(LicenseEvent)
class LicenseEventAdmin(ReadOnlyAdmin):
    list_display = ["license", "at", "kind", "actor_name"]
    list_filter = ["kind"]


@admin.register(BulkJob)
class BulkJobAdmin(ReadOnlyAdmin):
    """Bulk jobs are made from the licenses list and worked by the notifier: read only
    here (each license's result is on the job's page and ``…/bulk/{id}/results/``)."""

    list_display = ["id", "owner", "action", "state", "total", "done", "refused", "created"]
    list_filter = ["state", "action"]
    search_fields = ["owner__username"]
    list_select_related = ["owner"]
    date_hierarchy = "created"
