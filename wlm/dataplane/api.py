"""FreeRADIUS's ``rest`` module asks (gateway role; docs/radius.md):
``POST /api/v1/radius/authorize/`` whether an Access-Request is accepted,
``POST /api/v1/radius/accounting/`` to count an Accounting-Request.

The lean path (wlm.dataplane.front) answers both before Django (from its cache; packets
buffered and written in batches); these views are the same answers through Django, for
what the lean path hands on (another format, a body to refuse) and the reference its
tests compare with. The accounting view writes its packet at once.
"""

from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from wlm.connections import accounting
from wlm.dataplane import radius
from wlm.lib import clock
from wlm.lib.parsers import FastJSONParser
from wlm.tenancy.scoping import actor_of


class QuestionSerializer(serializers.Serializer):
    """Documents the body; ``radius.Question.from_json`` reads it."""

    called_station_id = serializers.CharField(
        max_length=radius.MAX_ATTRIBUTE,
        required=False,
        help_text=_("The access point: its MAC, then optionally ':' and the SSID."),
    )
    calling_station_id = serializers.CharField(
        max_length=radius.MAX_ATTRIBUTE, required=False, help_text=_("The guest device.")
    )
    nas_identifier = serializers.CharField(max_length=radius.MAX_ATTRIBUTE, required=False)


ACCEPT = inline_serializer(
    "RadiusAccept",
    {
        "control:Auth-Type": serializers.ChoiceField(choices=["Accept"]),
        "reply:Session-Timeout": serializers.IntegerField(),
        "reply:Class": serializers.CharField(),
    },
)
REJECT = inline_serializer(
    "RadiusReject",
    {
        "control:Auth-Type": serializers.ChoiceField(choices=["Reject"]),
        "reply:Reply-Message": serializers.ChoiceField(
            choices=[radius.UNKNOWN_ACCESS_POINT, *radius.REASONS]
        ),
    },
)


class RadiusAuthorizeView(APIView):
    """Accept (200) with the session's limit and the enabled modules, or Reject (401) with
    the reason, in the reply format of FreeRADIUS's rest module."""

    gateway_access = True
    parser_classes = [FastJSONParser]

    @extend_schema(
        request=QuestionSerializer,
        responses={
            200: ACCEPT,
            401: OpenApiResponse(REJECT, description=_("Access-Reject, with the reason.")),
        },
    )
    def post(self, request):
        question = _read(request, radius.Question.from_json)
        accepted, reply = radius.authorize(question, clock.now())
        return Response(reply, status=200 if accepted else 401)


class AccountingSerializer(serializers.Serializer):
    """Documents the body; ``radius.Accounting.from_json`` reads it."""

    status_type = serializers.CharField(
        max_length=radius.MAX_ATTRIBUTE,
        required=False,
        help_text=_("Acct-Status-Type: Start is counted; Interim-Update and Stop are not."),
    )
    called_station_id = serializers.CharField(max_length=radius.MAX_ATTRIBUTE, required=False)
    calling_station_id = serializers.CharField(max_length=radius.MAX_ATTRIBUTE, required=False)
    nas_identifier = serializers.CharField(max_length=radius.MAX_ATTRIBUTE, required=False)
    acct_session_id = serializers.CharField(max_length=radius.MAX_ATTRIBUTE, required=False)
    event_timestamp = serializers.IntegerField(
        required=False, help_text=_("Seconds since the epoch; default: now.")
    )


def packet_of(question: radius.Accounting, location_of) -> accounting.Packet | None:
    """The Start to count for an Accounting-Request (None: nothing to count), its access
    point's location found with ``location_of`` (the database, or the lean path's cache)."""
    mac = radius.access_point_mac(question.called_station_id, question.nas_identifier)
    return accounting.packet(
        status_type=question.status_type,
        location=None if mac is None else location_of(mac),
        station=mac or "",
        device=question.calling_station_id,
        session=question.acct_session_id,
        event_timestamp=question.event_timestamp,
        now=clock.now(),
    )


def _read(request, read):
    if not actor_of(request.user).is_gateway:
        raise PermissionDenied(_("Only the data plane's gateway accounts ask this."))
    try:
        return read(request.data)
    except ValueError as error:
        message = _("Send a JSON object of strings of at most 253 characters.")
        raise ValidationError({str(error): [message]}) from None


class RadiusAccountingView(APIView):
    """Acknowledged (204) whatever it holds; a Start of a registered access point counts
    its device once, through the connection intake."""

    gateway_access = True
    parser_classes = [FastJSONParser]

    @extend_schema(request=AccountingSerializer, responses={204: None})
    def post(self, request):
        question = _read(request, radius.Accounting.from_json)
        counted = packet_of(question, radius.location_of)
        if counted is not None:
            accounting.record(request.user.pk, [counted])
        return Response(status=204)
