"""The verify page: anyone may check a file's Content Credentials and whether it is one of
this gallery's images. The upload is read in memory, capped, and never stored."""

import io

from django.conf import settings
from django.core.files.uploadedfile import InMemoryUploadedFile
from django.core.files.uploadhandler import FileUploadHandler, SkipFile, StopUpload
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import render
from django.template.defaultfilters import filesizeformat
from django.utils.datastructures import MultiValueDict
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.http import require_http_methods

from accounts import limits
from core import http
from gallery.services import provenance

FIELD = "image"
# Room for the multipart headers and the CSRF token around the file itself.
_FORM_OVERHEAD = 64 * 1024


class InMemoryCapped(FileUploadHandler):
    """Keeps the one uploaded file (field "image") in memory, at most `cap` bytes; anything
    larger is dropped and flagged. Django's default handlers would spill a large upload
    into a temporary file on disk."""

    def __init__(self, request: HttpRequest, cap: int):
        super().__init__(request)
        self.cap = cap
        self.too_big = False
        self._buffer: bytearray | None = None

    def handle_raw_input(self, input_data, META, content_length, boundary, encoding=None):
        if content_length > self.cap + _FORM_OVERHEAD:
            self.too_big = True
            return QueryDict(), MultiValueDict()  # the body is not read at all
        return None

    def new_file(self, field_name, *args, **kwargs):
        if field_name != FIELD or self._buffer is not None:
            raise SkipFile
        super().new_file(field_name, *args, **kwargs)
        self._buffer = bytearray()

    def receive_data_chunk(self, raw_data, start):
        assert self._buffer is not None
        self._buffer += raw_data
        if len(self._buffer) > self.cap:
            self.too_big = True
            self._buffer = bytearray()
            raise StopUpload(connection_reset=False)
        return None

    def file_complete(self, file_size):
        if self._buffer is None or self.too_big:
            return None
        return InMemoryUploadedFile(
            io.BytesIO(bytes(self._buffer)),
            self.field_name,
            self.file_name,
            self.content_type,
            len(self._buffer),
            self.charset,
        )


@csrf_exempt  # checked below, once the upload handler is in place (csrf_protect)
@require_http_methods(["GET", "HEAD", "POST"])
def verify(request: HttpRequest) -> HttpResponse:
    context = {"max_bytes": settings.GALLERY_VERIFY_MAX_BYTES}
    if request.method != "POST":
        return render(request, "gallery/verify.html", context)
    # Counted before the body is read: a refused visitor's upload costs nothing.
    try:
        limits.check_ip("verify", http.client_ip(request))
    except limits.RateLimited as exc:
        return render(request, "gallery/verify.html", {**context, "error": exc.message}, status=429)
    handler = InMemoryCapped(request, settings.GALLERY_VERIFY_MAX_BYTES)
    request.upload_handlers = [handler]
    return _check(request, handler, context)


@csrf_protect
def _check(request: HttpRequest, handler: InMemoryCapped, context: dict) -> HttpResponse:
    upload = request.FILES.get(FIELD)
    if handler.too_big:
        limit = filesizeformat(handler.cap)
        error = _("The file is larger than this page checks (%(limit)s at most).") % {
            "limit": limit
        }
        status = 413
    elif upload is None:
        error, status = _("Choose an image file to check."), 400
    else:
        try:
            context["result"] = provenance.verify_file(upload.read(), request.user)
        except provenance.NotAnImage as exc:
            error = _("%(problem)s This page checks JPEG, PNG and WebP files.") % {"problem": exc}
            status = 400
        else:
            context["file_name"] = upload.name
            return render(request, "gallery/verify.html", context)
    return render(request, "gallery/verify.html", {**context, "error": error}, status=status)
