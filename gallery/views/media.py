"""Image files. Every file goes through here, so the same access rules guard the pages and
the bytes: a private or hidden image's URL is useless to anyone else."""

from django.http import Http404, HttpRequest
from django.http.response import HttpResponseBase
from django.shortcuts import get_object_or_404
from django.views.decorators.http import require_GET

from gallery.models import Generation
from gallery.services import access
from gallery.services import media as media_files


@require_GET
def media(request: HttpRequest, public_id: str, filename: str) -> HttpResponseBase:
    """Serve one file of a generation. Only names that belong to the row are served, so no
    other file under the media root can be reached, whatever the URL says."""
    item = get_object_or_404(Generation, public_id=public_id)
    if not access.files_viewable(request.user, item):
        raise Http404("No such image.")
    field = next((f for f in item.file_fields() if f.name.rsplit("/", 1)[-1] == filename), None)
    if field is None:
        raise Http404("No such file.")
    download = request.GET.get("download") == "1" and field.name == item.original.name
    # Authorised: hand over the bytes (streamed, X-Accel/X-Sendfile, or a presigned redirect).
    return media_files.file_response(
        field,
        download_name=f"{item.public_id}.{filename.rsplit('.', 1)[-1]}",
        download=download,
    )
