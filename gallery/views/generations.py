"""Submitting a prompt, and one generation's page: status, image, retry, delete."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_POST

from accounts import limits
from gallery.forms import GenerateForm
from gallery.models import Generation
from gallery.services import access, browse, favourites
from gallery.services import generation as pipeline
from gallery.views.browse import render_index


def get_viewable(request: HttpRequest, public_id: str) -> Generation:
    """The generation, if this user may see it; otherwise 404, so that a private id's
    existence is not revealed."""
    item = get_object_or_404(Generation.objects.select_related("owner"), public_id=public_id)
    if not access.can_view(request.user, item):
        raise Http404("No such image.")
    return item


def viewable_source(request: HttpRequest, public_id: str) -> Generation | None:
    """The image a "Generate again" started from, if this user may see it; else none (a
    forged or since-hidden id is dropped rather than recorded)."""
    if not public_id:
        return None
    item = Generation.objects.filter(public_id=public_id).first()
    return item if item and access.can_view(request.user, item) else None


def redirect_back(request: HttpRequest, fallback) -> HttpResponse:
    """To the posted `next` when it is a page of this site, else to `fallback`."""
    target = request.POST.get("next") or request.GET.get("next")
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return redirect(target)
    return redirect(fallback)


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
                source=viewable_source(request, form.cleaned_data.get("source", "")),
            )
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            return redirect(created)
    return render_index(request, form, status=400)


@require_GET
@login_required
def generate_again(request: HttpRequest, public_id: str) -> HttpResponse:
    """The home page with the prompt form filled in from another image."""
    source = get_viewable(request, public_id)
    form = GenerateForm(
        initial={
            "prompt": source.prompt,
            "negative_prompt": source.negative_prompt,
            "source": source.public_id,
        }
    )
    form.source_item = source
    return render_index(request, form)


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
    return {
        "item": item,
        "can_manage": access.can_manage(request.user, item),
        "starred": favourites.is_starred(request.user, item),
    }


@require_POST
@login_required
def retry(request: HttpRequest, public_id: str) -> HttpResponse:
    item = get_manageable(request, public_id)
    try:
        pipeline.retry(item)
    except ValidationError as exc:
        messages.error(request, exc.messages[0])
    return redirect_back(request, item)


@require_POST
@login_required
def delete(request: HttpRequest, public_id: str) -> HttpResponse:
    item = get_manageable(request, public_id)
    pipeline.delete(item)
    messages.success(request, "The image was deleted.")
    return redirect("gallery:index")
