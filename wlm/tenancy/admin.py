from django.contrib import admin

from wlm.tenancy.forms import AdminLoginForm
from wlm.tenancy.models import Distributor, Membership, Organization, Partner

# the admin's login counts failed passwords with the site's (wlm.tenancy.throttles)
admin.site.login_form = AdminLoginForm


@admin.register(Distributor)
class DistributorAdmin(admin.ModelAdmin):
    list_display = ["name", "email", "created"]
    search_fields = ["name", "email"]


@admin.register(Partner)
class PartnerAdmin(admin.ModelAdmin):
    list_display = ["name", "email", "created"]
    search_fields = ["name", "email"]
    filter_horizontal = ["distributors"]


@admin.register(Organization)
class OrganizationAdmin(admin.ModelAdmin):
    list_display = ["name", "partner", "email", "created"]
    list_filter = ["partner"]
    search_fields = ["name", "email"]

    def get_readonly_fields(self, request, obj=None):
        # an organization never moves to another partner (its licenses' partner is its own)
        return ["partner"] if obj is not None else []


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ["user", "tenant_type", "role", "distributor", "partner", "organization"]
    list_filter = ["tenant_type", "role"]
    search_fields = ["user__username", "user__email"]
    raw_id_fields = ["user", "distributor", "partner", "organization"]
