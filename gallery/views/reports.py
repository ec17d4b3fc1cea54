"""Reporting an image to the moderators."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from gallery.forms import ReportForm
from gallery.services import access, moderation
from gallery.views.generations import detail_context
from gallery.views.helpers import viewable_or_404


@require_POST
@login_required
def report(request: HttpRequest, public_id: str) -> HttpResponse:
    item = viewable_or_404(request, public_id)
    form = ReportForm(request.POST)
    try:
        if not form.is_valid():
            raise ValidationError(form.errors.get("category") or _("Choose what is wrong."))
        moderation.report(
            item,
            reporter=request.user,
            category=form.cleaned_data["category"],
            note=form.cleaned_data["note"],
        )
    except ValidationError as exc:
        messages.error(request, exc.messages[0])
        return render(request, "gallery/generation.html", detail_context(request, item), status=400)
    messages.success(request, _("Thank you for your report. A moderator will look at it."))
    # Enough reports hide the image, from the reporter too: then back to the gallery.
    return redirect(item if access.can_view(request.user, item) else "gallery:index")
