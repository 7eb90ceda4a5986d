"""Base classes of the API: every viewset reads through the tenancy door."""

from rest_framework import serializers, viewsets


class ScopedViewSet(viewsets.GenericViewSet):
    """Rows come only from ``Model.objects.visible_to(user)``; invisible means 404."""

    model = None
    lookup_value_regex = "[0-9]+"

    def base_queryset(self):
        return self.model.objects.all()

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation
            return self.model.objects.none()
        return self.base_queryset().visible_to(self.request.user)


class ScopedPrimaryKeyRelatedField(serializers.PrimaryKeyRelatedField):
    """A reference to another row: only rows visible to the caller can be named.

    An invisible id gets the same answer as a missing one, so nothing leaks.
    """

    def get_queryset(self):
        queryset = super().get_queryset()
        request = self.context.get("request")
        user = getattr(request, "user", None)
        return queryset.visible_to(user)
