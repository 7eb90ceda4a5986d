"""What anyone may read without logging in: the public keys that verify signed licenses
(docs/licenses-offline.md). Nothing here reads the database."""

from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_GET

from wlm.licenses import signing


@require_GET
def jwks(request: HttpRequest) -> JsonResponse:
    """``GET /.well-known/jwks.json``: every key that verifies, public halves only."""
    return JsonResponse(signing.jwks(), content_type="application/jwk-set+json")
