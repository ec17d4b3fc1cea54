"""The operator's dashboard (staff only) and /metrics for Prometheus (off by default)."""

from __future__ import annotations

import ipaddress
import secrets

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import dateformat
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from core.http import bearer, client_ip
from gallery.services import dashboard, metrics
from gallery.views import charts
from gallery.views.moderation import staff_only


@never_cache
@require_safe
@staff_only
def dashboard_page(request: HttpRequest) -> HttpResponse:
    figures = dashboard.overview()
    labels = [dateformat.format(d.day, "d M") for d in figures.days]
    images_chart = charts.stacked_bars(
        _("Images per day"),
        ngettext(
            "Images finished on each of the last %(days)s day: done, and failed.",
            "Images finished on each of the last %(days)s days: done, and failed.",
            len(labels),
        )
        % {"days": len(labels)},
        labels,
        [
            charts.Series(_("done"), [d.succeeded for d in figures.days], "c-ok"),
            charts.Series(_("failed"), [d.failed for d in figures.days], "c-bad"),
        ],
    )
    days = figures.days
    times_chart = charts.lines(
        _("Queue wait and run time"),
        _("Seconds waited in the queue and spent generating, median and 95th percentile, per day."),
        labels,
        [
            charts.Series(_("wait, median"), [d.wait_p50 for d in days], "c-wait"),
            charts.Series(_("wait, 95th percentile"), [d.wait_p95 for d in days], "c-wait dashed"),
            charts.Series(_("run, median"), [d.run_p50 for d in days], "c-run"),
            charts.Series(_("run, 95th percentile"), [d.run_p95 for d in days], "c-run dashed"),
        ],
    )
    context = {
        "figures": figures,
        "images_chart": images_chart,
        "times_chart": times_chart,
        "recent": list(reversed(figures.days))[:7],
        "days": len(figures.days),
    }
    return render(request, "gallery/operations.html", context)


def _scraper_allowed(request: HttpRequest) -> bool:
    token = settings.GALLERY_METRICS_TOKEN
    given = bearer(request)
    if token and given and secrets.compare_digest(given.encode(), token.encode()):
        return True
    try:
        # An address, or for IPv6 its /64 (client_ip groups them).
        source = ipaddress.ip_network(client_ip(request), strict=False)
    except ValueError:
        return False
    return any(
        source.version == allowed.version and source.subnet_of(allowed)
        for allowed in map(ipaddress.ip_network, settings.GALLERY_METRICS_ALLOW)
    )


@never_cache
@require_safe
def metrics_page(request: HttpRequest) -> HttpResponse:
    """Prometheus's text format. 404 unless GALLERY_METRICS is on; then a bearer token
    (GALLERY_METRICS_TOKEN) or an allowed address (GALLERY_METRICS_ALLOW) is needed."""
    if not settings.GALLERY_METRICS:
        raise Http404("No such page.")
    if not _scraper_allowed(request):
        response = HttpResponse("A metrics token or an allowed address is needed.\n", status=401)
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        response["Content-Type"] = "text/plain; charset=utf-8"
        return response
    body, content_type = metrics.exposition()
    return HttpResponse(body, content_type=content_type)
