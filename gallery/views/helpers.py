"""Request helpers for the gallery's views: the access lookups as 404s, and safe redirects.
(The client address and the Bearer header are read by `core.http`, which accounts uses too.)"""

from __future__ import annotations

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.utils.http import url_has_allowed_host_and_scheme

from gallery.models import Generation
from gallery.services import access


def viewable_or_404(request: HttpRequest, public_id: str) -> Generation:
    """The generation, if this user may see it; otherwise 404, so that a private id's
    existence is not revealed."""
    item = access.viewable_item(request.user, public_id)
    if item is None:
        raise Http404("No such image.")
    return item


def manageable_or_404(request: HttpRequest, public_id: str) -> Generation:
    """The generation, if this user may retry, delete or change it; otherwise 404."""
    item = access.manageable_item(request.user, public_id)
    if item is None:
        raise Http404("No such image.")
    return item


def redirect_back(request: HttpRequest, fallback) -> HttpResponse:
    """To the posted `next` when it is a page of this site, else to `fallback`."""
    target = request.POST.get("next") or request.GET.get("next")
    if target and is_safe_next(request, target):
        return redirect(target)
    return redirect(fallback)


def is_safe_next(request: HttpRequest, target: str) -> bool:
    """Whether `target` is a page of this site (never another host or scheme)."""
    return url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    )
