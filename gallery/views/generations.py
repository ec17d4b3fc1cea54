"""Submitting a prompt, and one generation's page: status, image, retry, delete."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.middleware.csrf import get_token
from django.shortcuts import redirect, render
from django.template.loader import get_template
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST, require_safe

from core import http
from gallery.forms import GenerateForm
from gallery.models import Generation
from gallery.services import (
    access,
    browse,
    favourites,
    intake,
    live,
    queue,
    quotas,
    recall,
    storage,
    visibility,
)
from gallery.views import previews
from gallery.views.browse import render_index
from gallery.views.helpers import manageable_or_404, redirect_back, viewable_or_404


def viewable_source(request: HttpRequest, public_id: str) -> Generation | None:
    """The image a "Generate again" started from, if this user may see it; else none (a
    forged or since-hidden id is dropped rather than recorded)."""
    return access.viewable_item(request.user, public_id) if public_id else None


def wants_json(request: HttpRequest) -> bool:
    """The page's script asks for JSON; a plain form post gets a page."""
    return "application/json" in request.headers.get("Accept", "")


@require_POST
@login_required
def generate(request: HttpRequest) -> HttpResponse:
    """Queue 1 to GALLERY_MAX_BATCH images of one prompt. The composer's script gets the new
    tiles as JSON and stays on the page; without it, one image opens its page and a batch
    goes back to the grid, where the new tiles are at the front."""
    form = GenerateForm(request.POST, user=request.user)
    if form.is_valid():
        try:
            created, refusal = intake.submit_batch(
                count=form.cleaned_data["count"] or 1,
                prompt=form.cleaned_data["prompt"],
                negative_prompt=form.cleaned_data["negative_prompt"],
                visibility=form.cleaned_data["visibility"],
                owner=request.user,
                client_ip=http.client_ip(request),
                source=viewable_source(request, form.cleaned_data.get("source", "")),
                preset=form.cleaned_data.get("preset"),
            )
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            if wants_json(request):
                return _tiles_json(request, created, refusal, quota=_quota_words(request))
            if refusal:
                messages.warning(request, refusal)
            return redirect(created[0] if len(created) == 1 else "gallery:index")
    if wants_json(request):
        errors = {name: [str(e) for e in errs] for name, errs in form.errors.items()}
        return JsonResponse({"errors": errors}, status=400)
    return render_index(request, form, status=400)


def _quota_words(request: HttpRequest) -> str:
    """What the composer says about today's quota, as the page renders it."""
    quota = quotas.quota_status(request.user)
    if not quota or not quota.daily_limit:
        return ""
    return _("%(left)s of %(limit)s left today") % {
        "left": quota.remaining_today,
        "limit": quota.daily_limit,
    }


def _tiles_json(
    request: HttpRequest,
    items: list[Generation],
    message: str = "",
    quota: str = "",
    template_name: str = "gallery/_live_tile.html",
) -> HttpResponse:
    items = live.with_places(items)
    # Rendered without the request's context processors (the tile needs none of them, and
    # they would run once per tile): only the CSRF token for its Cancel / Retry forms.
    template = get_template(template_name)
    token = get_token(request)
    tiles = [
        {
            "id": item.public_id,
            "status": item.status,
            "html": template.render({"item": item, "csrf_token": token}),
        }
        for item in items
    ]
    return JsonResponse({"items": tiles, "message": message, "quota": quota})


@require_safe
def live_round(request: HttpRequest) -> HttpResponse:
    """One round of a live page: the tiles named in `ids` as they are now (JSON). The page
    polls while any of its tiles is unfinished, and stops when none is."""
    ids = request.GET.get("ids", "").split(",")
    # My history's rows, or the grid's tiles.
    template = "gallery/_history_row.html" if request.GET.get("kind") == "row" else None
    return _tiles_json(
        request,
        live.round_of(request.user, ids),
        template_name=template or "gallery/_live_tile.html",
    )


@require_safe
@login_required
def generate_again(request: HttpRequest, public_id: str) -> HttpResponse:
    """The home page with the prompt form filled in from another image."""
    source = viewable_or_404(request, public_id)
    # What the user typed, with the style they chose, rather than what the style made of it.
    styled = bool(source.preset_name)
    form = GenerateForm(
        initial={
            "prompt": source.typed_prompt if styled else source.prompt,
            "negative_prompt": source.typed_negative_prompt if styled else source.negative_prompt,
            "source": source.public_id,
            "preset": source.preset_id if styled else None,
            "count": 1,
        },
        user=request.user,
    )
    form.source_item = source
    return render_index(request, form)


@require_safe
def generation(request: HttpRequest, public_id: str) -> HttpResponse:
    item = viewable_or_404(request, public_id)
    context = {
        **detail_context(request, item),
        "nav": _detail_nav(request, item),
        "og": previews.for_image(request, item),
    }
    return render(request, "gallery/generation.html", context)


def _detail_nav(request: HttpRequest, item: Generation) -> dict:
    """Previous and next within the grid's current filters (carried in the query string)."""
    query = browse.GalleryQuery.from_params(request.GET, request.user)
    newer, older = browse.neighbours(request.user, query, item)
    prev, next_ = (newer, older) if query.newest_first else (older, newer)
    return {"qs": query.querystring(), "prev": prev, "next": next_}


@require_safe
def tile_menu(request: HttpRequest, public_id: str) -> HttpResponse:
    """A grid tile's ⋯ menu, loaded when it opens: the tiles carry no per-image actions."""
    item = viewable_or_404(request, public_id)
    if not item.has_image:
        raise Http404("No such image.")
    context = {"item": item, "max_batch_range": range(1, intake.max_batch() + 1)}
    return render(request, "gallery/_tile_menu.html", context)


@require_safe
def generation_status(request: HttpRequest, public_id: str) -> HttpResponse:
    """The live status panel; htmx polls it until the generation is finished."""
    item = viewable_or_404(request, public_id)
    return render(request, "gallery/generation.html#detail", detail_context(request, item))


def detail_context(request: HttpRequest, item: Generation) -> dict:
    live.with_places([item])
    return {
        "item": item,
        "max_batch_range": range(1, intake.max_batch() + 1),
        "can_manage": access.can_manage(request.user, item),
        "starred": favourites.is_starred(request.user, item),
        "can_share": access.can_share(request.user, item),
    }


@require_POST
@login_required
def retry(request: HttpRequest, public_id: str) -> HttpResponse:
    item = manageable_or_404(request, public_id)
    try:
        intake.retry(item, actor=request.user, client_ip=http.client_ip(request))
    except ValidationError as exc:
        messages.error(request, exc.messages[0])
    return redirect_back(request, item)


@require_POST
@login_required
def delete(request: HttpRequest, public_id: str) -> HttpResponse:
    item = manageable_or_404(request, public_id)
    storage.delete(item)
    messages.success(request, _("The image was deleted."))
    return redirect("gallery:index")


@require_POST
@login_required
def cancel(request: HttpRequest, public_id: str) -> HttpResponse:
    """Take a queued image out of the queue (its owner or staff). JSON for the grid's
    script, a message and a redirect otherwise."""
    item = manageable_or_404(request, public_id)
    cancelled = queue.cancel(item)
    if wants_json(request):
        return JsonResponse({"cancelled": cancelled}, status=200 if cancelled else 409)
    if cancelled:
        messages.success(request, _("Cancelled: the image was taken out of the queue."))
        return redirect_back(request, "gallery:history")
    messages.error(request, _("It has already started, so it can no longer be cancelled."))
    return redirect_back(request, item)


@require_POST
@login_required
def change_visibility(request: HttpRequest, public_id: str) -> HttpResponse:
    """Public <-> private, by the owner or staff (JSON for scripts, else back to the page)."""
    item = manageable_or_404(request, public_id)
    try:
        item = visibility.change(item, request.POST.get("visibility", ""), actor=request.user)
    except ValidationError as exc:
        if wants_json(request):
            return JsonResponse({"error": exc.messages[0]}, status=400)
        messages.error(request, exc.messages[0])
        return redirect_back(request, item)
    if wants_json(request):
        return JsonResponse({"visibility": item.visibility, "moderation": item.moderation})
    if item.moderation == Generation.Moderation.PENDING:
        messages.info(request, _("It is public once a moderator has looked at it."))
    else:
        if item.visibility == Generation.Visibility.PUBLIC:
            messages.success(request, _("Now public."))
        elif item.visibility == Generation.Visibility.PRIVATE:
            messages.success(request, _("Now private."))
        else:
            note = _("Now %(visibility)s.")
            messages.success(request, note % {"visibility": item.get_visibility_display().lower()})
    return redirect_back(request, item)


@require_safe
@login_required
def recent_prompts(request: HttpRequest) -> HttpResponse:
    """The composer's recall: the user's last distinct prompts and their starred ones."""
    return JsonResponse(recall.prompts(request.user))
