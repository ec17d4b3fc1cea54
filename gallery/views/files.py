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

import re
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
# A public derivative at its public URL, which stops serving (and is no longer linked) once
# the image is hidden or made private: shared caches may keep it (docs/decisions.md).
PUBLIC_IMMUTABLE = "public, max-age=31536000, immutable"


_RANGE = re.compile(r"bytes=(\d*)-(\d*)")


class RangeNotSatisfiable(Exception):
    pass


def requested_range(header: str | None, size: int) -> tuple[int, int] | None:
    """The one byte range a `Range` header asks for, as (first, last) inclusive; None for
    the whole file (no header, several ranges or a malformed one: a server may ignore
    those). RangeNotSatisfiable when it starts past the end."""
    match = _RANGE.fullmatch((header or "").strip())
    if not match or not (match[1] or match[2]):
        return None
    if match[1]:
        first = int(match[1])
        last = min(int(match[2]), size - 1) if match[2] else size - 1
        if match[2] and int(match[2]) < first:
            return None
    else:  # "bytes=-500": the last 500 bytes
        suffix = int(match[2])
        if suffix == 0:
            raise RangeNotSatisfiable
        first, last = max(0, size - suffix), size - 1
    if first >= size:
        raise RangeNotSatisfiable
    return first, last


def partial(
    data: bytes, *, first: int, size: int, content_type: str, download_name: str, download: bool
) -> HttpResponse:
    """206 Partial Content: `data` is bytes first.. of a file of `size` bytes."""
    response = HttpResponse(data, status=206, content_type=content_type)
    response["Content-Range"] = f"bytes {first}-{first + len(data) - 1}/{size}"
    response["Content-Disposition"] = content_disposition_header(download, download_name)
    return response


def unsatisfiable(size: int) -> HttpResponse:
    response = HttpResponse(status=416)
    response["Content-Range"] = f"bytes */{size}"
    return response


# Whatever is under /media/ is an image, never a document: no script, no plugin, no frame.
MEDIA_CSP = "default-src 'none'; sandbox"


def file_response(
    field: FieldFile,
    *,
    content_type: str,
    download_name: str,
    download: bool,
    range_header: str | None = None,
    shared: bool = False,
) -> HttpResponseBase:
    """The response that delivers `field`'s file, the way this deployment is set up to.
    Streamed from storage, it honours a single byte range, so an interrupted download
    resumes (nginx, Apache and S3 do that themselves in the other modes). `shared`: shared
    caches may keep it."""
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
        try:
            wanted = requested_range(range_header, handle.size)
        except RangeNotSatisfiable:
            handle.close()
            return unsatisfiable(handle.size)
        if wanted is None:
            response = FileResponse(
                handle, content_type=content_type, as_attachment=download, filename=download_name
            )
        else:
            first, last = wanted
            with handle:
                handle.seek(first)
                data = handle.read(last - first + 1)
            response = partial(
                data,
                first=first,
                size=handle.size,
                content_type=content_type,
                download_name=download_name,
                download=download,
            )
        response["Accept-Ranges"] = "bytes"
    response["Cache-Control"] = PUBLIC_IMMUTABLE if shared else IMMUTABLE
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
