"""The API of bulk changes (docs/lifecycle.md, "Bulk changes"):

- ``POST /api/v1/licenses/bulk/`` ``{action, ids | filters, years?, reason?}``: the job is
  stored and queued (202, ``Location``: the job); the notifier works on it. ``filters``
  are the licenses list's own query parameters (an object), frozen to ids now.
- ``GET /api/v1/licenses/bulk/``: the caller's jobs, newest first (staff: everyone's),
  ``?state=``, ``?action=``; ``GET /api/v1/licenses/bulk/{id}/``: the job's state and
  counts (its owner's; staff read every job).
- ``GET /api/v1/licenses/bulk/{id}/results/``: each license's outcome and message,
  paginated, ``?outcome=done|refused``, ``?format=csv`` (the page's "CSV of results").
"""

from __future__ import annotations

import django_filters
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import QueryDict
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import mixins, serializers, status
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from wlm.lib.api import ScopedViewSet
from wlm.lib.csv import ListModelMixin
from wlm.licenses import bulk, lifecycle
from wlm.licenses.forms.bulk import filtered, frozen_ids
from wlm.licenses.models import BulkAction, BulkJob, BulkJobItem, BulkJobState, BulkOutcome
from wlm.licenses.views.bulk import job_items

MAX_ID = 2**63 - 1


@extend_schema_field(
    {
        "oneOf": [
            {"type": "string"},
            {"type": "number"},
            {"type": "boolean"},
            {"type": "array", "items": {"type": "string"}},
        ]
    }
)
class FilterValue(serializers.Field):
    """A filter's value: text, a number, a boolean, or a list of those (repeated)."""

    default_error_messages = {"invalid": _("A filter's value is text, a number or a list.")}

    def to_internal_value(self, data):
        values = data if isinstance(data, list) else [data]
        if not all(isinstance(v, str | int | float | bool) for v in values):
            self.fail("invalid")
        return [str(v).lower() if isinstance(v, bool) else str(v) for v in values]


class BulkRequestSerializer(serializers.Serializer):
    action = serializers.ChoiceField(choices=BulkAction.choices)
    ids = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=MAX_ID),
        required=False,
        allow_empty=False,
        max_length=bulk.MAX_LICENSES,
        help_text=_("The licenses, by id; or give filters."),
    )
    filters = serializers.DictField(
        child=FilterValue(),
        required=False,
        help_text=_(
            "The licenses list's query parameters (GET /api/v1/licenses/): every license "
            "you see that matches them now; {} is all of them."
        ),
    )
    years = serializers.IntegerField(min_value=1, max_value=5, required=False)
    reason = serializers.CharField(max_length=bulk.REASON_MAX, required=False, allow_blank=True)

    def validate(self, attrs):
        if ("ids" in attrs) == ("filters" in attrs):
            raise ValidationError({"ids": [_("Give either ids or filters.")]})
        if attrs["action"] == BulkAction.RENEW and "years" not in attrs:
            raise ValidationError({"years": [_("This field is required.")]})
        return attrs


class BulkJobSerializer(serializers.ModelSerializer):
    owner = serializers.CharField(
        source="owner.username", read_only=True, help_text=_("Who asked for it.")
    )
    pending = serializers.SerializerMethodField()
    url = serializers.SerializerMethodField()
    page = serializers.SerializerMethodField()
    results = serializers.SerializerMethodField()

    class Meta:
        model = BulkJob
        fields = [
            "id",
            "owner",
            "action",
            "years",
            "reason",
            "filters",
            "state",
            "total",
            "done",
            "refused",
            "pending",
            "created",
            "started",
            "finished",
            "url",
            "page",
            "results",
        ]
        read_only_fields = fields

    def get_pending(self, job) -> int:
        return job.total - job.done - job.refused

    def _absolute(self, url: str) -> str:
        request = self.context.get("request")
        return request.build_absolute_uri(url) if request else url

    def get_url(self, job) -> str:
        return self._absolute(reverse("api:license-bulk-detail", args=[job.pk]))

    def get_page(self, job) -> str:
        return self._absolute(reverse("licenses:bulk-job", args=[job.pk]))

    def get_results(self, job) -> str:
        return self._absolute(reverse("api:license-bulk-results", args=[job.pk]))


class BulkJobFilterSet(django_filters.FilterSet):
    state = django_filters.MultipleChoiceFilter(
        choices=BulkJobState.choices, distinct=False, label=_("State")
    )
    action = django_filters.ChoiceFilter(choices=BulkAction.choices, label=_("Action"))

    class Meta:
        model = BulkJob
        fields = ["state", "action"]


class BulkJobViewSet(ListModelMixin, mixins.RetrieveModelMixin, ScopedViewSet):
    """A bulk change: made here, worked on by the notifier, read by its owner (and by
    staff, who see every license)."""

    model = BulkJob
    serializer_class = BulkJobSerializer
    filterset_class = BulkJobFilterSet
    ordering_fields = ["created", "finished"]
    ordering = ["-created", "-id"]
    csv_filename = "bulk-jobs"

    def base_queryset(self):
        return BulkJob.objects.select_related("owner")

    def may_write(self, user) -> bool:
        """``TenantPermission``: 403 for a role that may take none of the bulk changes."""
        return bool(bulk.offered(user))

    @extend_schema(request=BulkRequestSerializer, responses={202: BulkJobSerializer})
    def create(self, request, *args, **kwargs):
        serializer = BulkRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        lifecycle.require_role(request.user, data["action"])  # 403 whatever the rows
        filters = ""
        if "filters" in data:
            query = QueryDict(mutable=True)
            for name, values in data["filters"].items():
                query.setlist(name, values)
            try:
                ids = frozen_ids(filtered(request, query).qs)
            except DjangoValidationError as error:
                raise ValidationError(error.message_dict) from None
            filters = query.urlencode()
        else:
            ids = data["ids"]
        job = bulk.create_job(
            request.user,
            data["action"],
            ids,
            years=data.get("years"),
            reason=data.get("reason", ""),
            filters=filters,
        )
        body = BulkJobSerializer(job, context=self.get_serializer_context()).data
        return Response(body, status=status.HTTP_202_ACCEPTED, headers={"Location": body["url"]})


class BulkResultFilterSet(django_filters.FilterSet):
    outcome = django_filters.ChoiceFilter(choices=BulkOutcome.choices, label=_("Outcome"))

    class Meta:
        model = BulkJobItem
        fields = ["outcome"]


class BulkResultSerializer(serializers.ModelSerializer):
    key = serializers.CharField(
        read_only=True, allow_null=True, help_text=_("Empty where you no longer see it.")
    )

    class Meta:
        model = BulkJobItem
        fields = ["license", "key", "outcome", "message", "finished"]
        read_only_fields = fields


class BulkResultViewSet(ListModelMixin, ScopedViewSet):
    """A job's results: one row per license, in the job's order."""

    model = BulkJobItem
    serializer_class = BulkResultSerializer
    filterset_class = BulkResultFilterSet
    csv_filename = "bulk-results"
    ordering_fields = ["id"]
    ordering = ["id"]

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation
            return BulkJobItem.objects.none()
        job = get_object_or_404(BulkJob.objects.visible_to(self.request.user), pk=self.kwargs["pk"])
        return job_items(job, self.request.user)


urlpatterns = [
    path(
        "licenses/bulk/",
        BulkJobViewSet.as_view({"get": "list", "post": "create"}),
        name="license-bulk",
    ),
    path(
        "licenses/bulk/<int:pk>/",
        BulkJobViewSet.as_view({"get": "retrieve"}),
        name="license-bulk-detail",
    ),
    path(
        "licenses/bulk/<int:pk>/results/",
        BulkResultViewSet.as_view({"get": "list"}),
        name="license-bulk-results",
    ),
]
