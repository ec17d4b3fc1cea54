"""/healthz for load balancers and monitors: JSON, 200 when healthy, 503 otherwise."""

from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from gallery.services import health


@never_cache
@require_safe
def healthz(request: HttpRequest) -> JsonResponse:
    report = health.check()
    return JsonResponse(report.as_dict(), status=200 if report.healthy else 503)
