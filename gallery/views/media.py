"""Image files. Every file goes through here, so the same access rules guard the pages and
the bytes: a private or hidden image's URL is useless to anyone else."""

from django.db.models.fields.files import FieldFile
from django.http import Http404, HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import get_object_or_404
from django.utils.http import content_disposition_header
from django.views.decorators.http import require_safe

from accounts import tokens
from core import http
from gallery.models import Generation
from gallery.services import access, downloads, images, signed_urls
from gallery.views import files


def _viewer(request: HttpRequest) -> access.AnyUser | HttpResponse:
    """Who asks: the cookie's user, or a Bearer token's (or the 401 refusing it)."""
    if "Authorization" not in request.headers:
        return request.user
    # An API client fetching the files the JSON API links to. Reading only (GET), so a
    # token here cannot be abused across sites the way a cookie could. A request that
    # sends credentials is judged by them alone: an empty Bearer or another scheme is
    # refused, never quietly served as the cookie's user.
    try:
        return tokens.authenticate(http.bearer(request)).user
    except tokens.TokenError as exc:
        refused = HttpResponse(exc.message, status=exc.status, content_type="text/plain")
        refused["WWW-Authenticate"] = 'Bearer realm="gallery"'
        return refused


@require_safe
def public_media(request: HttpRequest, public_id: str, filename: str) -> HttpResponseBase:
    """A thumbnail or preview at its public URL: served while the image is public, to
    whoever may view it; marked for shared caches when anyone at all may. (Under uvicorn,
    config/asgi.py answers most of these from memory before they reach Django.)"""
    viewer = _viewer(request)
    if isinstance(viewer, HttpResponse):
        return viewer
    item = get_object_or_404(Generation, public_id=public_id)
    if not access.files_viewable_at_public_url(viewer, item):
        raise Http404("No such image.")
    field = item.file_named(filename, among=Generation.DERIVATIVE_FIELDS)
    if field is None:
        raise Http404("No such file.")
    return _derivative(request, item, field, shared=access.files_shareable(item))


@require_safe
def media(request: HttpRequest, public_id: str, filename: str) -> HttpResponseBase:
    """Serve one file of a generation. Only names that belong to the row are served, so no
    other file under the media root can be reached, whatever the URL says."""
    viewer = _viewer(request)
    if isinstance(viewer, HttpResponse):
        return viewer
    item = get_object_or_404(Generation, public_id=public_id)
    # A signed link (the OpenAI-compatible API's image URLs) opens its one file for an hour,
    # while the image stays as it was when the link was made.
    signed = signed_urls.opens(item, filename, request.GET.get("sig", ""))
    if not signed and not access.files_viewable(viewer, item):
        raise Http404("No such image.")
    return authorised_file(request, item, filename)


def authorised_file(
    request: HttpRequest,
    item: Generation,
    filename: str,
    among: tuple[str, ...] = Generation.FILE_FIELDS,
) -> HttpResponseBase:
    """One of `item`'s files (of `among`), once the caller has decided it may be served (the
    media view here; a share link's holder in views/shares.py). Private to the browser."""
    # Only the image's own files have URLs; the signed copy is served as the original.
    field = item.file_named(filename, among=among)
    if field is None:
        raise Http404("No such file.")
    if field.name == item.original.name:
        return _original(request, item, download=request.GET.get("download") == "1")
    return _derivative(request, item, field, shared=False)


def _derivative(
    request: HttpRequest, item: Generation, field: FieldFile, *, shared: bool
) -> HttpResponseBase:
    """An authorised thumbnail or preview: the bytes (streamed, X-Accel/X-Sendfile, or a
    presigned redirect), cacheable by shared caches only when `shared`."""
    response = files.file_response(
        field,
        content_type=images.content_type(images.THUMBNAIL_FORMAT),
        download_name=f"{item.public_id}.{field.name.rsplit('.', 1)[-1]}",
        download=False,
        range_header=request.headers.get("Range"),
        shared=shared,
    )
    response["Content-Security-Policy"] = files.MEDIA_CSP
    return response


def _original(request: HttpRequest, item: Generation, *, download: bool) -> HttpResponseBase:
    """The original as it leaves the gallery: its signed copy (made on the first request),
    served like any stored file."""
    page_url = request.build_absolute_uri(item.get_absolute_url())
    try:
        signed = downloads.signed_original(item, page_url)
    except FileNotFoundError:
        raise Http404("The file is missing from storage.") from None
    if signed is None:
        return _unsigned(request, item, page_url, download=download)
    response = files.file_response(
        signed,
        content_type=images.content_type(item.format),
        download_name=downloads.download_name(item),
        download=download,
        range_header=request.headers.get("Range"),
    )
    response["Content-Security-Policy"] = files.MEDIA_CSP
    # The copy follows the owner's preference and the signer: same URL, bytes that may change.
    # (A presigned redirect keeps its own short max-age: it names the copy's own object.)
    if response.status_code != 302:
        response["Cache-Control"] = "private, no-cache"
    return response


def _unsigned(
    request: HttpRequest, item: Generation, page_url: str, *, download: bool
) -> HttpResponse:
    """An original that cannot be signed: a copy made in memory, with the prompt embedded
    if the owner allows it, so it always goes through the app, whatever the serving mode."""
    try:
        data = downloads.unsigned_bytes(
            item, page_url, with_metadata=downloads.embeds_metadata(item)
        )
    except FileNotFoundError:
        raise Http404("The file is missing from storage.") from None
    content_type = images.content_type(item.format)
    name = downloads.download_name(item)
    try:
        wanted = files.requested_range(request.headers.get("Range"), len(data))
    except files.RangeNotSatisfiable:
        return files.unsatisfiable(len(data))
    if wanted is None:
        response = HttpResponse(data, content_type=content_type)
        response["Content-Disposition"] = content_disposition_header(
            as_attachment=download, filename=name
        )
    else:
        first, last = wanted
        response = files.partial(
            data[first : last + 1],
            first=first,
            size=len(data),
            content_type=content_type,
            download_name=name,
            download=download,
        )
    response["Accept-Ranges"] = "bytes"
    response["Content-Security-Policy"] = files.MEDIA_CSP
    # The embedded metadata follows the owner's current preference: not immutable.
    response["Cache-Control"] = "private, no-cache"
    return response
