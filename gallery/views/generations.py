"""Submitting a prompt, and one generation's page: status, image, retry, delete."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_POST

from accounts import limits
from gallery.forms import GenerateForm
from gallery.models import Generation
from gallery.services import access, browse
from gallery.services import generation as pipeline
from gallery.views.browse import render_index


def get_viewable(request: HttpRequest, public_id: str) -> Generation:
    """The generation, if this user may see it; otherwise 404, so that a private id's
    existence is not revealed."""
    item = get_object_or_404(Generation.objects.select_related("owner"), public_id=public_id)
    if not access.can_view(request.user, item):
        raise Http404("No such image.")
    return item


def get_manageable(request: HttpRequest, public_id: str) -> Generation:
    item = get_viewable(request, public_id)
    if not access.can_manage(request.user, item):
        raise Http404("No such image.")
    return item


@require_POST
@login_required
def generate(request: HttpRequest) -> HttpResponse:
    form = GenerateForm(request.POST)
    if form.is_valid():
        try:
            created = pipeline.submit(
                prompt=form.cleaned_data["prompt"],
                negative_prompt=form.cleaned_data["negative_prompt"],
                owner=request.user,
                client_ip=limits.client_ip(request),
            )
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            return redirect(created)
    return render_index(request, form, status=400)


@require_GET
def generation(request: HttpRequest, public_id: str) -> HttpResponse:
    item = get_viewable(request, public_id)
    context = {**_detail_context(request, item), "nav": _detail_nav(request, item)}
    return render(request, "gallery/generation.html", context)


def _detail_nav(request: HttpRequest, item: Generation) -> dict:
    """Previous and next within the grid's current filters (carried in the query string)."""
    query = browse.GalleryQuery.from_params(request.GET, request.user)
    newer, older = browse.neighbours(request.user, query, item)
    prev, next_ = (newer, older) if query.newest_first else (older, newer)
    return {"qs": query.querystring(), "prev": prev, "next": next_}


@require_GET
def generation_status(request: HttpRequest, public_id: str) -> HttpResponse:
    """The live status panel; htmx polls it until the generation is finished."""
    item = get_viewable(request, public_id)
    return render(request, "gallery/generation.html#detail", _detail_context(request, item))


def _detail_context(request: HttpRequest, item: Generation) -> dict:
    return {"item": item, "can_manage": access.can_manage(request.user, item)}


@require_POST
@login_required
def retry(request: HttpRequest, public_id: str) -> HttpResponse:
    item = get_manageable(request, public_id)
    try:
        pipeline.retry(item)
    except ValidationError as exc:
        messages.error(request, exc.messages[0])
    return redirect(item)


@require_POST
@login_required
def delete(request: HttpRequest, public_id: str) -> HttpResponse:
    item = get_manageable(request, public_id)
    pipeline.delete(item)
    messages.success(request, "The image was deleted.")
    return redirect("gallery:index")
