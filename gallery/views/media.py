"""Image files. Every file goes through here, so the same access rules guard the pages and
the bytes: a private or hidden image's URL is useless to anyone else."""

import mimetypes

from django.core.files.storage import default_storage
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from django.utils.http import content_disposition_header
from django.views.decorators.http import require_GET

from gallery.models import Generation
from gallery.services import access, downloads


@require_GET
def media(request: HttpRequest, public_id: str, filename: str) -> HttpResponse:
    """Serve one file of a generation. Only names that belong to the row are served, so no
    other file under the media root can be reached, whatever the URL says."""
    item = get_object_or_404(Generation, public_id=public_id)
    if not access.files_viewable(request.user, item):
        raise Http404("No such image.")
    field = next((f for f in item.file_fields() if f.name.rsplit("/", 1)[-1] == filename), None)
    if field is None:
        raise Http404("No such file.")
    content_type = mimetypes.guess_type(filename)[0] or "application/octet-stream"
    download = request.GET.get("download") == "1" and field.name == item.original.name
    if download:
        return _download(request, item, content_type)
    try:
        handle = default_storage.open(field.name, "rb")
    except FileNotFoundError:
        raise Http404("The file is missing from storage.") from None
    response = FileResponse(
        handle,
        content_type=content_type,
        filename=f"{item.public_id}.{filename.rsplit('.', 1)[-1]}",
    )
    # Names carry the claim token, so a URL's content never changes. "private": shared
    # caches must not keep an image whose visibility can change.
    response["Cache-Control"] = "private, max-age=31536000, immutable"
    return response


def _download(request: HttpRequest, item: Generation, content_type: str) -> HttpResponse:
    """The original as an attachment, with its prompt embedded when its owner wants that."""
    page_url = request.build_absolute_uri(item.get_absolute_url())
    try:
        data = downloads.original_bytes(item, page_url)
    except FileNotFoundError:
        raise Http404("The file is missing from storage.") from None
    response = HttpResponse(data, content_type=content_type)
    response["Content-Disposition"] = content_disposition_header(
        as_attachment=True, filename=downloads.download_name(item)
    )
    # The embedded metadata follows the owner's current preference: not immutable.
    response["Cache-Control"] = "private, no-cache"
    return response
