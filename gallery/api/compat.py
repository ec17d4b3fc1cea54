"""The drop-in compatible APIs: the hosted SDXL protocol (`POST /api/text2image`) and OpenAI's
images API (`POST /v1/images/generations`). Bearer token only, never the session cookie, so
no CSRF token. Their wire formats live here; every rule is a service's (intake, synchronous)
and every refusal's status is `errors`'. See docs/API.md."""

from __future__ import annotations

import base64
import json
import time
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import RequestDataTooBig, ValidationError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.http.response import HttpResponseBase
from django.utils.http import content_disposition_header
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt

from accounts import tokens
from accounts.models import ApiToken
from core import http
from gallery.api import errors
from gallery.api.errors import ApiError
from gallery.models import Generation
from gallery.services import downloads, images, signed_urls, synchronous

# The hosted API's cap on a request body.
MAX_BODY_BYTES = 2 * 1024 * 1024
# OpenAI's images API takes n from 1 to 10; we keep to 4 (each one is a generation).
MAX_IMAGES = 4
SIZE = "1024x1024"
RESPONSE_FORMATS = ("url", "b64_json")


# --- Reading a request ------------------------------------------------------------------------


def _require_post(request: HttpRequest) -> None:
    if request.method != "POST":
        raise ApiError(405, "method_not_allowed", _("Use POST."))


def _read_body(request: HttpRequest) -> bytes:
    """The body of the POST; 413 past 2 MB (without reading it). Read only once the token
    is known good, so nobody without one can make us read a body at all."""
    too_large = ApiError(413, "body_too_large", _("The request body is larger than 2 MB."))
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    if length > MAX_BODY_BYTES:
        raise too_large
    try:
        body = request.body
    except RequestDataTooBig:
        raise too_large from None
    if len(body) > MAX_BODY_BYTES:
        raise too_large
    return body


def _authenticate(request: HttpRequest) -> ApiToken:
    """The request's Bearer token (never the session cookie); 401/403 if unusable."""
    try:
        return tokens.authenticate(http.bearer(request))
    except tokens.TokenError as exc:
        raise errors.from_token_error(exc) from None


def _load_json(body: bytes) -> dict[str, Any]:
    """The body as a JSON object; 400 otherwise."""
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):  # deep nesting: RecursionError
        raise ApiError(400, "invalid_json", _("The request body is not valid JSON.")) from None
    if not isinstance(payload, dict):
        raise ApiError(400, "invalid_json", _("The request body must be a JSON object."))
    return payload


def _text(payload: dict[str, Any], field: str, *, required: bool) -> str:
    value = payload.get(field)
    if value is None and not required:
        return ""
    if not isinstance(value, str) or (required and not value.strip()):
        if required:
            message = _("'%(field)s' must be a non-empty string.")
        else:
            message = _("'%(field)s' must be a string.")
        raise ApiError(400, "invalid_request", message % {"field": field}, param=field)
    return value


@dataclass(frozen=True)
class ImagesRequest:
    prompt: str
    negative_prompt: str = ""
    n: int = 1
    response_format: str = "url"


def parse_text2image(payload: dict[str, Any]) -> ImagesRequest:
    """The hosted API's body: `prompt`, optional `negative_prompt`; other fields ignored."""
    return ImagesRequest(
        prompt=_text(payload, "prompt", required=True),
        negative_prompt=_text(payload, "negative_prompt", required=False),
    )


def parse_openai(payload: dict[str, Any]) -> ImagesRequest:
    """OpenAI's images body. Honoured: prompt, n, size (1024x1024 only), response_format,
    and our `negative_prompt`. `model`, `quality`, `style`, `user` and unknown fields are
    ignored: the model is whatever endpoint the gallery is configured with."""
    n = payload.get("n", 1)
    if n is None:
        n = 1
    if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= MAX_IMAGES:
        raise ApiError(
            400,
            "invalid_request",
            _("'n' must be an integer from 1 to %(max)s.") % {"max": MAX_IMAGES},
            param="n",
        )
    size = payload.get("size")
    if size is not None and size != SIZE:
        raise ApiError(
            400, "invalid_request", _("'size' must be '%(size)s'.") % {"size": SIZE}, param="size"
        )
    response_format = payload.get("response_format") or "url"
    if response_format not in RESPONSE_FORMATS:
        raise ApiError(
            400,
            "invalid_request",
            _("'response_format' must be 'url' or 'b64_json'."),
            param="response_format",
        )
    return ImagesRequest(
        prompt=_text(payload, "prompt", required=True),
        negative_prompt=_text(payload, "negative_prompt", required=False),
        n=n,
        response_format=response_format,
    )


# --- Making the images ------------------------------------------------------------------------


def _make(request: HttpRequest, wanted: ImagesRequest, owner) -> list[Generation]:
    """Submit and make the images; the rows as they ended (some may have failed)."""
    try:
        submitted = synchronous.submit(
            prompt=wanted.prompt,
            negative_prompt=wanted.negative_prompt,
            count=wanted.n,
            owner=owner,
            client_ip=http.client_ip(request),
        )
    except ValidationError as exc:
        raise errors.from_refusal(exc) from None
    return synchronous.make(submitted)


def _succeeded(generation: Generation) -> Generation:
    if generation.status == Generation.Status.SUCCEEDED and generation.has_image:
        return generation
    raise errors.from_unfinished(generation)


def _original_bytes(request: HttpRequest, generation: Generation) -> bytes:
    """The image as it leaves the gallery: the signed copy (downloads.py), in memory."""
    page_url = request.build_absolute_uri(generation.get_absolute_url())
    try:
        return downloads.original_bytes(generation, page_url)
    except OSError:
        raise ApiError(
            500, "storage_error", _("The image could not be read back."), generation=generation
        ) from None


# --- Writing a response -----------------------------------------------------------------------


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
        _require_post(request)
        token = _authenticate(request)
        body = _read_body(request)
        wanted = parse_text2image(_load_json(body))
        generation = _succeeded(_make(request, wanted, token.user)[0])
        data = _original_bytes(request, generation)
    except ApiError as exc:
        error = JsonResponse({"error": exc.message, "code": exc.code}, status=exc.status)
        return _headers(request, error, exc)
    response = HttpResponse(data, content_type=images.content_type(generation.format))
    response["Content-Disposition"] = content_disposition_header(
        as_attachment=False, filename=downloads.download_name(generation)
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
        item["b64_json"] = base64.b64encode(_original_bytes(request, generation)).decode()
    else:
        item["url"] = request.build_absolute_uri(signed_urls.original_path(generation))
    return item


@csrf_exempt
def openai_images(request: HttpRequest) -> HttpResponseBase:
    """OpenAI's images request in, {"created", "data": [...]} out. If some of n images
    fail, the others are returned; if all fail, the first failure is the error."""
    try:
        _require_post(request)
        token = _authenticate(request)
        body = _read_body(request)
        wanted = parse_openai(_load_json(body))
        done, failures = [], []
        for generation in _make(request, wanted, token.user):
            try:
                done.append(_succeeded(generation))
            except ApiError as exc:
                failures.append(exc)
        if not done:
            raise failures[0]
        data = [_openai_item(request, item, wanted.response_format) for item in done]
    except ApiError as exc:
        return _openai_error(request, exc)
    return JsonResponse({"created": int(time.time()), "data": data})
