"""Share links: making them (for an image or a collection), listing and revoking one's own,
and the pages and files a link's holder opens. Opening is rate limited per address; what a
link shows is `access.share_images`'s answer, asked again on every request and file."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from accounts import limits
from core import http
from gallery.forms_sharing import ShareForm, SharePasswordForm
from gallery.models import Collection, Generation, ShareLink
from gallery.routes import route
from gallery.services import access, collections, pagination, sharing
from gallery.services.browse import TILE_FIELDS
from gallery.views import media, previews
from gallery.views.helpers import viewable_or_404

# --- The owner's side -----------------------------------------------------------------------


def _make_page(request: HttpRequest, target: Generation | Collection) -> HttpResponse:
    """The share page of one image or collection: a form for a new link, and the links
    already made for it."""
    form = ShareForm(request.POST if request.method == "POST" else None)
    made = None
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                made = sharing.create(
                    request.user,
                    target,
                    expires_in_days=form.cleaned_data["expires"],
                    password=form.cleaned_data["password"],
                    hide_prompts=form.cleaned_data["hide_prompts"],
                )
            except ValidationError as exc:
                form.add_error(None, exc)
        if made is None:
            status = 400
        else:
            form = ShareForm()
    context = {
        "target": target,
        "is_image": isinstance(target, Generation),
        "form": form,
        "made": made,
        "made_url": request.build_absolute_uri(made.get_absolute_url()) if made else "",
        "links": list(sharing.links_to(request.user, target)),
    }
    return render(request, "gallery/share_make.html", context, status=status)


@require_http_methods(["GET", "HEAD", "POST"])
@login_required
def share_image(request: HttpRequest, public_id: str) -> HttpResponse:
    item = viewable_or_404(request, public_id)
    if not access.can_share(request.user, item):
        raise Http404("No such image.")
    return _make_page(request, item)


@require_http_methods(["GET", "HEAD", "POST"])
@login_required
def share_collection(request: HttpRequest, public_id: str) -> HttpResponse:
    found = access.own_collections(request.user).filter(public_id=public_id).first()
    if found is None:
        raise Http404("No such collection.")
    return _make_page(request, found)


@require_safe
@login_required
def my_links(request: HttpRequest) -> HttpResponse:
    links = list(sharing.links_of(request.user))
    return render(request, "gallery/shares.html", {"links": links})


@require_POST
@login_required
def revoke(request: HttpRequest, token: str) -> HttpResponse:
    if sharing.revoke(request.user, token):
        messages.success(request, _("The link was revoked: it no longer opens."))
    target = request.POST.get("next", "")
    return redirect(
        target if target.startswith("/") and not target.startswith("//") else "gallery:shares"
    )


# --- The holder's side ----------------------------------------------------------------------


def _gone(request: HttpRequest) -> HttpResponse:
    # Unknown, revoked and expired links answer alike: nothing about what was shared.
    return render(request, "gallery/share_gone.html", status=404)


def _limited(request: HttpRequest, action: str) -> HttpResponse | None:
    try:
        limits.check_ip(action, http.client_ip(request))
    except limits.RateLimited as exc:
        response = render(
            request, "gallery/share_limited.html", {"message": exc.message}, status=429
        )
        response["Retry-After"] = str(max(1, int((exc.retry_at - limits.clock()).total_seconds())))
        return response
    return None


def _unlocked(request: HttpRequest, link: ShareLink) -> bool:
    return not link.has_password or bool(request.session.get(sharing.unlock_key(link)))


def file_url(link: ShareLink, item: Generation, field: str) -> str:
    name = getattr(item, field).name.rsplit("/", 1)[-1]
    return route("gallery:share_media", link.token, item.public_id, name)


@never_cache
@require_http_methods(["GET", "HEAD", "POST"])
def share(request: HttpRequest, token: str) -> HttpResponse:
    """What a link shows: after the password if it has one; then the image, or the
    collection's grid (keyset pages)."""
    refused = _limited(request, "share")
    if refused:
        return refused
    link = sharing.open_link(token)
    if link is None:
        return _gone(request)
    if request.method == "POST" and link.has_password:
        refused = _limited(request, "share_password")
        if refused:
            return refused
        form = SharePasswordForm(request.POST)
        if form.is_valid() and sharing.password_ok(link, form.cleaned_data["password"]):
            request.session.cycle_key()
            request.session[sharing.unlock_key(link)] = True
            return redirect(link)
        return render(
            request, "gallery/share_password.html",
            {"form": form, "link": link, "error": sharing.REFUSED}, status=403,
        )  # fmt: skip
    if not _unlocked(request, link):
        return render(
            request, "gallery/share_password.html", {"form": SharePasswordForm(), "link": link}
        )
    if link.generation_id is not None:
        item = access.shared_image(link, link.generation.public_id)
        if item is None:
            return _gone(request)
        return _image_page(request, link, item)
    before = pagination.parse_cursor(request.GET.get("before"))
    rows = collections.newest_first(access.share_images(link))
    if before is not None:
        rows = rows.filter(id__lt=before)
    # With the preview: the first tile is the link preview's picture.
    page = pagination.cut(rows.only(*TILE_FIELDS, "preview_image"), settings.GALLERY_PAGE_SIZE)
    template = "gallery/share_collection.html"
    if request.htmx and before:
        template += "#share-page"
    context = {
        "link": link,
        "collection": link.collection,
        "tiles": [(item, _tile_urls(link, item)) for item in page.items],
        "page": page,
        "next_qs": f"?before={page.next_cursor}" if page.next_cursor else "",
        "og": previews.for_share(request, link, page.items[0] if page.items else None),
    }
    return render(request, template, context)


def _tile_urls(link: ShareLink, item: Generation) -> dict[str, str]:
    return {
        "thumbnail": file_url(link, item, "thumbnail"),
        "thumbnail_2x": file_url(link, item, "thumbnail_2x"),
        "page": route("gallery:share_item", link.token, item.public_id),
    }


def _urls(link: ShareLink, item: Generation) -> dict[str, str]:
    urls = {
        **_tile_urls(link, item),
        "preview": file_url(link, item, "preview_image" if item.preview_image else "thumbnail_2x"),
    }
    if not link.hide_prompts:
        urls["original"] = file_url(link, item, "original")
    return urls


def _image_page(request: HttpRequest, link: ShareLink, item: Generation) -> HttpResponse:
    context = {
        "link": link,
        "item": item,
        "urls": _urls(link, item),
        "og": previews.for_share(request, link, item),
    }
    return render(request, "gallery/share_image.html", context)


@never_cache
@require_safe
def share_item(request: HttpRequest, token: str, public_id: str) -> HttpResponse:
    """One image of a shared collection."""
    refused = _limited(request, "share")
    if refused:
        return refused
    link = sharing.open_link(token)
    if link is None or not _unlocked(request, link):
        return _gone(request) if link is None else redirect(link)
    item = access.shared_image(link, public_id)
    if item is None:
        raise Http404("No such image.")
    return _image_page(request, link, item)


@require_safe
def share_media(
    request: HttpRequest, token: str, public_id: str, filename: str
) -> HttpResponseBase:
    """A file of a shared image, for the link's holder: while the link opens (and was
    unlocked in this browser), and while the image is one the link shows. Not counted
    against the opening rate: a page of tiles asks for dozens."""
    link = sharing.open_link(token)
    if link is None or not _unlocked(request, link):
        raise Http404("No such image.")
    item = access.shared_image(link, public_id)
    if item is None:
        raise Http404("No such image.")
    # Hidden prompts: no original (its file carries the prompt), only the renditions.
    among = Generation.DERIVATIVE_FIELDS if link.hide_prompts else Generation.FILE_FIELDS
    return media.authorised_file(request, item, filename, among=among)
