from django.contrib import admin

from wlm.locations.models import AccessPoint, Location, Room


class AccessPointInline(admin.TabularInline):
    model = AccessPoint
    extra = 0


class RoomInline(admin.TabularInline):
    model = Room
    extra = 0


@admin.register(Location)
class LocationAdmin(admin.ModelAdmin):
    list_display = ["name", "organization", "sector", "timezone", "country"]
    list_filter = ["sector", "country"]
    search_fields = ["name", "address", "organization__name"]
    inlines = [AccessPointInline, RoomInline]

    def get_readonly_fields(self, request, obj=None):
        # a location never moves to another organization
        return ["organization"] if obj is not None else []
