"""The audit log in Django's admin: read only (no add, change nor delete)."""

from django.contrib import admin

from wlm.audit.models import AuditEntry


@admin.register(AuditEntry)
class AuditEntryAdmin(admin.ModelAdmin):
    list_display = ("at", "kind", "actor_name", "tenant_type", "tenant_id", "object_label")
    list_filter = ("kind", "tenant_type")
    search_fields = ("object_label", "actor_name")
    date_hierarchy = None
    show_full_result_count = False  # a count of millions of rows on every page: no

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def get_readonly_fields(self, request, obj=None):
        return [field.name for field in AuditEntry._meta.fields]
