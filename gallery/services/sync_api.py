"""The synchronous drop-in APIs: the hosted text2image protocol and OpenAI's images API.

Both authenticate a gallery token, submit through the same pipeline as the web form
(validation, blocklist, quotas, per-address rate, pacing) and make the images within the
request (`generation.generate_now`: the request waits as long as the generation takes and
no longer; the job is queued too, so it finishes even if the client or this process goes).
Every refusal or failure comes out as an ApiError; each view writes it in its protocol's shape.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import IO, Any

from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.core.files.storage import default_storage
from django.db import transaction
from django.http import HttpRequest
from PIL import Image

from accounts import limits, tokens
from accounts.models import ApiToken
from gallery.models import Generation
from gallery.services import generation as pipeline

# The hosted API's cap on a request body.
MAX_BODY_BYTES = 2 * 1024 * 1024
# OpenAI's images API takes n from 1 to 10; we keep to 4 (each one is a generation).
MAX_IMAGES = 4
SIZE = "1024x1024"
RESPONSE_FORMATS = ("url", "b64_json")

_TOKEN_CODES = {
    tokens.TokenMissing: "token_missing",
    tokens.TokenInvalid: "token_invalid",
    tokens.TokenRevoked: "token_revoked",
    tokens.AccountDisabled: "account_disabled",
}
# Failures that are this server's, not the endpoint's: 500. Other endpoint_* codes: 502.
_SERVER_FAILURES = ("storage_error", "worker_lost")


class ApiError(Exception):
    """A request the API answers with an error: HTTP `status`, a machine `code`, a
    `message` fit to show, the request field at fault (`param`), seconds to wait
    (`retry_after`, for 429), and the generation concerned, if one was made."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        param: str | None = None,
        retry_after: int | None = None,
        generation: Generation | None = None,
    ):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.param = param
        self.retry_after = retry_after
        self.generation = generation


# --- Requests -------------------------------------------------------------------------------


def authenticate(request: HttpRequest) -> ApiToken:
    """The request's Bearer token (never the session cookie); ApiError 401/403 if unusable."""
    try:
        return tokens.authenticate_request(request)
    except tokens.TokenError as exc:
        code = _TOKEN_CODES.get(type(exc), "token_invalid")
        raise ApiError(exc.status, code, exc.message) from None


def load_json(body: bytes) -> dict[str, Any]:
    """The body as a JSON object; ApiError 400 otherwise."""
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise ApiError(400, "invalid_json", "The request body is not valid JSON.") from None
    if not isinstance(payload, dict):
        raise ApiError(400, "invalid_json", "The request body must be a JSON object.")
    return payload


def _text(payload: dict[str, Any], field: str, *, required: bool) -> str:
    value = payload.get(field)
    if value is None and not required:
        return ""
    if not isinstance(value, str) or (required and not value.strip()):
        what = "a non-empty string" if required else "a string"
        raise ApiError(400, "invalid_request", f"'{field}' must be {what}.", param=field)
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
            400, "invalid_request", f"'n' must be an integer from 1 to {MAX_IMAGES}.", param="n"
        )
    size = payload.get("size")
    if size is not None and size != SIZE:
        raise ApiError(400, "invalid_request", f"'size' must be {SIZE!r}.", param="size")
    response_format = payload.get("response_format") or "url"
    if response_format not in RESPONSE_FORMATS:
        raise ApiError(
            400,
            "invalid_request",
            "'response_format' must be 'url' or 'b64_json'.",
            param="response_format",
        )
    return ImagesRequest(
        prompt=_text(payload, "prompt", required=True),
        negative_prompt=_text(payload, "negative_prompt", required=False),
        n=n,
        response_format=response_format,
    )


# --- Generating -----------------------------------------------------------------------------


def submit(request: ImagesRequest, *, owner: User, client_ip: str) -> list[Generation]:
    """Submit `request.n` generations in one transaction: all are accepted, or none is and
    nothing is counted against the owner's quotas. ApiError 400 or 429 when refused."""
    # Asking for more than may ever be in progress is a 400: waiting would not help.
    quota = limits.quota_status(owner) if request.n > 1 else None
    if quota and quota.max_in_flight and request.n > quota.max_in_flight:
        raise ApiError(
            400,
            "invalid_request",
            f"At most {quota.max_in_flight} images can be in progress at once: ask for fewer.",
            param="n",
        )
    try:
        with transaction.atomic():
            return [
                pipeline.submit(
                    prompt=request.prompt,
                    negative_prompt=request.negative_prompt,
                    owner=owner,
                    client_ip=client_ip,
                )
                for _ in range(request.n)
            ]
    except limits.SubmissionRefused as exc:
        raise ApiError(429, exc.code, exc.messages[0], retry_after=exc.retry_after) from None
    except ValidationError as exc:
        raise _invalid(exc) from None


def _invalid(exc: ValidationError) -> ApiError:
    if not hasattr(exc, "error_dict"):
        return ApiError(400, "invalid_request", exc.messages[0])
    field, errors = next(iter(exc.error_dict.items()))
    error = errors[0]
    code = "prompt_blocked" if error.code == "blocked" else "invalid_request"
    return ApiError(400, code, error.messages[0], param=field)


def make(generations: list[Generation]) -> list[Generation]:
    """Make each submitted generation and return the rows as they ended. One at a time in
    this thread; the workers may take the others meanwhile (generate_now then waits)."""
    return [pipeline.generate_now(generation.pk) for generation in generations]


def check_succeeded(generation: Generation) -> Generation:
    """The generation, if it has its image; otherwise the ApiError that says why not:
    504 for an endpoint timeout or an image still unfinished, 500 for a failure of this
    server (storage, a worker lost), 502 for any other failure of the endpoint."""
    if generation.status == Generation.Status.SUCCEEDED and generation.has_image:
        return generation
    if not generation.is_finished:
        raise ApiError(
            504,
            "generation_timeout",
            "The image is taking longer than expected. It will appear in the gallery once done.",
            generation=generation,
        )
    code = generation.failure_code or "generation_failed"
    if code == "endpoint_timeout":
        status = 504
    elif code.startswith("endpoint_") and code not in _SERVER_FAILURES:
        status = 502
    else:
        status = 500
    message = generation.failure_reason or "The image could not be made."
    raise ApiError(status, code, message, generation=generation)


def open_original(generation: Generation) -> IO[bytes]:
    """The stored original, byte-exact as the endpoint sent it; ApiError 500 if missing."""
    try:
        return default_storage.open(generation.original.name, "rb")
    except OSError:
        raise ApiError(
            500, "storage_error", "The image could not be read back.", generation=generation
        ) from None


def content_type(generation: Generation) -> str:
    return Image.MIME.get(generation.format.upper(), "application/octet-stream")
