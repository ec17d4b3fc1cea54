"""The drop-in compatible APIs: the hosted SDXL protocol (`POST /api/text2image`) and OpenAI's
images API (`POST /v1/images/generations`). Bearer token only, never the session cookie, so
no CSRF token; the rules live in gallery/services/sync_api.py. See docs/API.md."""

from __future__ import annotations

import base64
import time

from django.core.exceptions import RequestDataTooBig
from django.http import FileResponse, HttpRequest, HttpResponse, JsonResponse
from django.http.response import HttpResponseBase
from django.views.decorators.csrf import csrf_exempt

from accounts import limits
from gallery.models import Generation
from gallery.services import signed_urls, sync_api
from gallery.services.sync_api import ApiError


def _read_body(request: HttpRequest) -> bytes:
    """The request body, refused (413) past the hosted API's 2 MB without reading it."""
    too_large = ApiError(413, "body_too_large", "The request body is larger than 2 MB.")
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    if length > sync_api.MAX_BODY_BYTES:
        raise too_large
    try:
        body = request.body
    except RequestDataTooBig:
        raise too_large from None
    if len(body) > sync_api.MAX_BODY_BYTES:
        raise too_large
    return body


def _accept(request: HttpRequest) -> bytes:
    """The body of a POST; 405 for any other method, 413 past 2 MB."""
    if request.method != "POST":
        raise ApiError(405, "method_not_allowed", "Use POST.")
    return _read_body(request)


def _link(request: HttpRequest, response: HttpResponseBase, generation: Generation) -> None:
    """Point the client at the generation's page in the gallery."""
    page = request.build_absolute_uri(generation.get_absolute_url())
    response["Link"] = f'<{page}>; rel="alternate"'
    response["X-Gallery-Id"] = generation.public_id
    response["X-Gallery-Url"] = page


def _headers(request: HttpRequest, response: HttpResponseBase, exc: ApiError) -> HttpResponse:
    if exc.retry_after is not None:
        response["Retry-After"] = str(exc.retry_after)
    if exc.status == 405:
        response["Allow"] = "POST"
    if exc.status in (401, 403):
        response["WWW-Authenticate"] = 'Bearer realm="gallery"'
    if exc.generation is not None:
        _link(request, response, exc.generation)
    return response


# --- POST /api/text2image -------------------------------------------------------------------


@csrf_exempt
def text2image(request: HttpRequest) -> HttpResponseBase:
    """The hosted API's request in, the image's bytes out, and the gallery keeps it."""
    try:
        body = _accept(request)
        token = sync_api.authenticate(request)
        wanted = sync_api.parse_text2image(sync_api.load_json(body))
        submitted = sync_api.submit(wanted, owner=token.user, client_ip=limits.client_ip(request))
        generation = sync_api.check_succeeded(sync_api.make(submitted)[0])
        handle = sync_api.open_original(generation)
    except ApiError as exc:
        error = JsonResponse({"error": exc.message, "code": exc.code}, status=exc.status)
        return _headers(request, error, exc)
    extension = generation.original.name.rsplit(".", 1)[-1]
    response = FileResponse(
        handle,
        content_type=sync_api.content_type(generation),
        filename=f"{generation.public_id}.{extension}",
    )
    _link(request, response, generation)
    return response


# --- POST /v1/images/generations ------------------------------------------------------------

_OPENAI_TYPES = {429: "rate_limit_error"}


def _openai_error(request: HttpRequest, exc: ApiError) -> HttpResponse:
    kind = _OPENAI_TYPES.get(exc.status) or (
        "server_error" if exc.status >= 500 else "invalid_request_error"
    )
    payload = {"message": exc.message, "type": kind, "param": exc.param, "code": exc.code}
    return _headers(request, JsonResponse({"error": payload}, status=exc.status), exc)


def _openai_item(request: HttpRequest, generation: Generation, response_format: str) -> dict:
    item = {"gallery_url": request.build_absolute_uri(generation.get_absolute_url())}
    if response_format == "b64_json":
        with sync_api.open_original(generation) as handle:
            item["b64_json"] = base64.b64encode(handle.read()).decode()
    else:
        item["url"] = request.build_absolute_uri(signed_urls.original_path(generation))
    return item


@csrf_exempt
def openai_images(request: HttpRequest) -> HttpResponseBase:
    """OpenAI's images request in, {"created", "data": [...]} out. If some of n images
    fail, the others are returned; if all fail, the first failure is the error."""
    try:
        body = _accept(request)
        token = sync_api.authenticate(request)
        wanted = sync_api.parse_openai(sync_api.load_json(body))
        submitted = sync_api.submit(wanted, owner=token.user, client_ip=limits.client_ip(request))
        done, failures = [], []
        for generation in sync_api.make(submitted):
            try:
                done.append(sync_api.check_succeeded(generation))
            except ApiError as exc:
                failures.append(exc)
        if not done:
            raise failures[0]
        data = [_openai_item(request, item, wanted.response_format) for item in done]
    except ApiError as exc:
        return _openai_error(request, exc)
    return JsonResponse({"created": int(time.time()), "data": data})
