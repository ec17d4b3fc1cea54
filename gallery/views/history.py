"""My history: the signed-in user's own generations, with bulk delete and zip download."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import FileResponse, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_POST, require_safe

from gallery.services import access, history, live, pagination, visibility
from gallery.views import collections


@require_safe
@login_required
def history_page(request: HttpRequest) -> HttpResponse:
    before = pagination.parse_cursor(request.GET.get("before"))
    page = history.history_page(request.user, before=before)
    live.with_places(page.items)  # queued rows show their place (no query when none waits)
    context = {
        "page": page,
        "zip_max": history.ZIP_MAX_ITEMS,
        "is_first_page": before is None,
        # For "Add to collection" on the selection.
        "collections": list(access.own_collections(request.user).only("public_id", "name")),
    }
    return render(request, "gallery/history.html", context)


@require_POST
@login_required
def bulk(request: HttpRequest) -> HttpResponse:
    ids = request.POST.getlist("ids")
    action = request.POST.get("action")
    back = request.POST.get("next") or ""
    back = back if back.startswith("/history") else "/history"
    if not ids:
        messages.error(request, _("Select at least one image first."))
        return redirect(back)
    if action == "delete":
        count = history.bulk_delete(request.user, ids)
        messages.success(
            request,
            ngettext("Deleted %(count)s image.", "Deleted %(count)s images.", count)
            % {"count": count},
        )
        return redirect(back)
    if action == "collect":
        images = [item for item in history.owned(request.user, ids) if item.has_image]
        return collections.bulk_add(request, images, back)
    if action in ("public", "private"):
        count = visibility.change_many(request.user, ids, action)
        if action == "public":
            note = ngettext("Made %(count)s image public.", "Made %(count)s images public.", count)
        else:
            note = ngettext(
                "Made %(count)s image private.", "Made %(count)s images private.", count
            )
        messages.success(request, note % {"count": count})
        return redirect(back)
    if action == "zip":
        try:
            archive, count = history.build_zip(
                request.user, ids, lambda item: request.build_absolute_uri(item.get_absolute_url())
            )
        except history.TooManyItems as exc:
            messages.error(request, str(exc))
            return redirect(back)
        if not count:
            messages.error(request, _("None of the selected items has an image to download."))
            return redirect(back)
        return FileResponse(archive, as_attachment=True, filename="sdxl-gallery-images.zip")
    messages.error(request, _("Choose delete, download or add to a collection."))
    return redirect(back)
