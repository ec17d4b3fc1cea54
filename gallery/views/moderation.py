"""The staff review queue: pending and reported images, and the decisions about them."""

from collections.abc import Callable
from functools import wraps

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST, require_safe

from gallery.models import ModerationEvent
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
    sort = request.GET.get("sort", "oldest")
    if sort not in service.QUEUE_SORTS:
        sort = "oldest"
    page = service.queue_page(after=after, sort=sort)
    context = {"page": page, "after": after, "sort": sort}
    return render(request, "gallery/moderation/queue.html", context)


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
        item.open_appeal = None if event else service.open_appeal(item)
        item.system_hold = None if event else service.system_hold(item)
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
        note = _("%(action)s: %(prompt)s")
        messages.success(
            request, note % {"action": event.get_action_display(), "prompt": item.prompt[:60]}
        )
    return redirect("gallery:moderation")


@require_POST
@staff_only
def undo(request: HttpRequest, event_id: int) -> HttpResponse:
    """Undo a system hold (from the review queue or the decision log)."""
    event = get_object_or_404(ModerationEvent, pk=event_id)
    try:
        service.undo(event, actor=request.user, reason=request.POST.get("reason", ""))
    except ValidationError as exc:
        messages.error(request, exc.messages[0])
    else:
        messages.success(request, _("The system's hold was undone."))
    return redirect("gallery:moderation")


@require_POST
@login_required
def appeal(request: HttpRequest, public_id: str) -> HttpResponse:
    """The owner appeals a moderator's decision about their image, once."""
    item = viewable_or_404(request, public_id)
    if not service.can_appeal(request.user, item):
        # Not theirs, not hidden or removed, or appealed already: nothing to do here.
        messages.error(request, _("This decision can't be appealed."))
        return redirect(item)
    try:
        service.appeal(item, appellant=request.user, note=request.POST.get("note", ""))
    except ValidationError as exc:
        messages.error(request, exc.messages[0])
    else:
        messages.success(request, _("Your appeal was sent. A moderator will look at it."))
    return redirect(item)
