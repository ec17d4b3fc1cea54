"""The star toggle: htmx swaps the button in place; without JS, a form post and a redirect."""

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_POST

from gallery.services import favourites
from gallery.views.helpers import redirect_back, viewable_or_404


@require_POST
@login_required
def star(request: HttpRequest, public_id: str) -> HttpResponse:
    item = viewable_or_404(request, public_id)
    try:
        starred = favourites.toggle(request.user, item)
    except PermissionDenied:
        raise Http404("No such image.") from None
    if request.htmx:
        context = {"item": item, "starred": starred, "variant": request.POST.get("variant", "")}
        return render(request, "gallery/_star.html", context)
    return redirect_back(request, item)
