"""``POST /api/v1/radius/authorize/``: FreeRADIUS's ``rest`` module asks whether an
Access-Request is accepted (gateway role; docs/radius.md).

The lean path (wlm.dataplane.front) answers it before Django from its cache; this view is
the same answer through Django, for what the lean path hands on (another format, a body
to refuse) and the reference its tests compare with.
"""

from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

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
        if not actor_of(request.user).is_gateway:
            raise PermissionDenied(_("Only the data plane's gateway accounts ask this."))
        try:
            question = radius.Question.from_json(request.data)
        except ValueError as error:
            field = str(error)
            message = _("Send a JSON object of strings of at most 253 characters.")
            raise ValidationError({field: [message]}) from None
        accepted, reply = radius.authorize(question, clock.now())
        return Response(reply, status=200 if accepted else 401)
