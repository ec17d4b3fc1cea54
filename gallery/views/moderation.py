"""The staff review queue: pending and reported images, and the decisions about them."""

from collections.abc import Callable
from functools import wraps

from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST, require_safe

from gallery.services import moderation as service
from gallery.services import pagination
from gallery.views.helpers import viewable_or_404


def staff_only(view: Callable) -> Callable:
    """Visitors are asked to sign in; signed-in non-staff get a 404 (nothing to see here)."""

    @wraps(view)
    def wrapped(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        if not request.user.is_staff:
            raise Http404("No such page.")
        return view(request, *args, **kwargs)

    return wrapped


@require_safe
@staff_only
def queue(request: HttpRequest) -> HttpResponse:
    after = pagination.parse_cursor(request.GET.get("after"))
    page = service.queue_page(after=after)
    return render(request, "gallery/moderation/queue.html", {"page": page, "after": after})


@require_POST
@staff_only
def decide(request: HttpRequest, public_id: str) -> HttpResponse:
    item = viewable_or_404(request, public_id)  # staff may view every image
    action = request.POST.get("action", "")
    reason = request.POST.get("reason", "")
    error = ""
    try:
        event = service.decide(item, action, actor=request.user, reason=reason)
    except ValidationError as exc:
        error = exc.messages[0]
        event = None
    if request.htmx:
        # In place: the card shows the outcome (or the error, with the form kept).
        item.open_reports = [] if event else list(item.reports.filter(resolved_at__isnull=True))
        context = {"item": item, "event": event, "error": error, "reason": reason}
        return render(
            request,
            "gallery/moderation/queue.html#item",
            context,
            status=400 if error else 200,
        )
    if error:
        messages.error(request, error)
    else:
        messages.success(request, f"{event.get_action_display()}: {item.prompt[:60]}")
    return redirect("gallery:moderation")
