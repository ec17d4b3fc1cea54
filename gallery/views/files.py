"""How an image file's bytes leave the server, once the media view has authorised the request.
(A request helper: it builds responses, so it lives with the views.)

One decision, four ways (settings.GALLERY_MEDIA_ACCEL / GALLERY_MEDIA_REDIRECT):
- stream the file from storage through the app (the default; local files or S3);
- X-Accel-Redirect: nginx sends the file from an `internal` location (local files);
- X-Sendfile: Apache's mod_xsendfile sends the file from its path (local files);
- redirect to a short-lived presigned URL on the S3 bucket (the bytes never touch the app).
Whatever the way, the caller has already checked access; these only hand over.
"""

from __future__ import annotations

import mimetypes
from urllib.parse import quote

from django.conf import settings
from django.core.files.storage import default_storage
from django.db.models.fields.files import FieldFile
from django.http import FileResponse, Http404, HttpResponse, HttpResponseRedirect
from django.http.response import HttpResponseBase
from django.utils.http import content_disposition_header

# Names carry the claim token, so a URL's content never changes. "private": shared caches must
# not keep an image whose visibility can change.
IMMUTABLE = "private, max-age=31536000, immutable"


def file_response(field: FieldFile, *, download_name: str, download: bool) -> HttpResponseBase:
    """The response that delivers `field`'s file, the way this deployment is set up to."""
    content_type = mimetypes.guess_type(field.name)[0] or "application/octet-stream"
    if settings.GALLERY_MEDIA_REDIRECT:
        return _presigned_redirect(field, download_name=download_name, download=download)
    if settings.GALLERY_MEDIA_ACCEL:
        response = HttpResponse(content_type=content_type)
        if settings.GALLERY_MEDIA_ACCEL == "nginx":
            prefix = settings.GALLERY_MEDIA_ACCEL_PREFIX.rstrip("/")
            response["X-Accel-Redirect"] = quote(f"{prefix}/{field.name}")
        else:
            response["X-Sendfile"] = default_storage.path(field.name)
        response["Content-Disposition"] = content_disposition_header(download, download_name)
    else:
        try:
            handle = default_storage.open(field.name, "rb")
        except FileNotFoundError:
            raise Http404("The file is missing from storage.") from None
        response = FileResponse(
            handle, content_type=content_type, as_attachment=download, filename=download_name
        )
    response["Cache-Control"] = IMMUTABLE
    return response


def _presigned_redirect(
    field: FieldFile, *, download_name: str, download: bool
) -> HttpResponseRedirect:
    """302 to a signed URL that expires in GALLERY_MEDIA_URL_EXPIRY seconds. The browser may
    keep the redirect itself only a little less long than the signature lives."""
    disposition = content_disposition_header(download, download_name)
    url = default_storage.url(
        field.name, parameters={"ResponseContentDisposition": disposition} if download else None
    )
    response = HttpResponseRedirect(url)
    expiry = int(getattr(default_storage, "querystring_expire", 300))
    response["Cache-Control"] = f"private, max-age={max(0, expiry - 60)}"
    return response
