"""The one HTTP client for text-to-image endpoints.

It speaks one of two protocols, chosen by SDXL_ENDPOINT_PROTOCOL:
  * "text2image", the OVHcloud AI Endpoints SDXL protocol: POST JSON {"prompt",
    "negative_prompt"}, get back the raw bytes of an image;
  * "openai", an OpenAI-compatible images API: POST JSON {"model", "prompt", "n": 1, "size",
    "response_format": "b64_json"}, get back JSON whose data[0].b64_json is the image.
Every answer is untrusted: the body is read with a size and time cap (the JSON one sized for
base64), the image decoded strictly, then fully verified before the caller sees it. Failures
come out as typed EndpointError subclasses whose `reason` can be shown to users and whose
`detail` is for staff.
The access token goes only into the Authorization header of requests to the configured URL;
it is never put in an error, a log line or a repr.
"""

from __future__ import annotations

import base64
import binascii
import email.utils
import functools
import json
import logging
import random
import re
import time
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import requests
from django.conf import settings
from django.utils.translation import gettext_noop

from gallery.services import images

logger = logging.getLogger(__name__)

# Upper bound on how long we wait because an endpoint asked us to (Retry-After).
RETRY_AFTER_LIMIT = 300.0
_CHUNK = 16 * 1024  # small, so a compressed body cannot overshoot the size cap by much

TEXT2IMAGE = "text2image"
OPENAI = "openai"
PROTOCOLS = (TEXT2IMAGE, OPENAI)
# SDXL's native size; the hosted text2image API always answers with it too.
OPENAI_SIZE = "1024x1024"
# The hosted provider's model id for SDXL base 1.0 on its OpenAI-compatible API.
DEFAULT_OPENAI_MODEL = "stable-diffusion-xl-base-v10"
# Room in an OpenAI answer for the JSON around the base64 (revised_prompt and the like).
_JSON_SLACK = 64 * 1024


# --- Errors ---------------------------------------------------------------------------------


class EndpointError(Exception):
    """A generation the endpoint did not produce. `transient` errors are worth retrying."""

    transient = False
    # Stored with a failed generation (Generation.failure_code), for the APIs.
    code = "endpoint_error"

    def __init__(self, reason: str, detail: str = "", *, retry_after: float | None = None):
        super().__init__(reason)
        self.reason = reason
        self.detail = detail
        self.retry_after = retry_after


class AuthRejected(EndpointError):
    """401 or 403: the token is missing, invalid, expired or revoked."""

    code = "endpoint_auth"


class EndpointGone(EndpointError):
    """404: the model or the URL no longer exists."""

    code = "endpoint_gone"


class RequestRejected(EndpointError):
    """Another 4xx (or a redirect): the endpoint refuses this request as it is."""

    code = "endpoint_rejected"


class RateLimited(EndpointError):
    """429: too many requests; `retry_after` says when to come back, if the endpoint said."""

    transient = True
    code = "endpoint_rate_limited"


class ServerError(EndpointError):
    """5xx: the endpoint failed on its side."""

    transient = True
    code = "endpoint_server_error"


class EndpointUnreachable(EndpointError):
    """No answer in time, a refused or reset connection, or a body cut short."""

    transient = True
    code = "endpoint_unreachable"


class EndpointTimeout(EndpointUnreachable):
    """No answer, or no whole image, in time."""

    code = "endpoint_timeout"


class InvalidImage(EndpointError):
    """A 200 whose body is not an acceptable image (HTML, garbage, truncated, too big), or,
    with the OpenAI protocol, not JSON holding one strictly base64-encoded image."""

    code = "endpoint_invalid_image"


# --- Configuration --------------------------------------------------------------------------


@dataclass(frozen=True)
class EndpointConfig:
    url: str
    token: str = field(repr=False)
    label: str
    connect_timeout: float = 10.0
    read_timeout: float = 180.0
    max_bytes: int = 20 * 1024 * 1024  # of the image itself, whatever the protocol
    max_pixels: int = 4096 * 4096
    protocol: str = TEXT2IMAGE
    model: str = DEFAULT_OPENAI_MODEL  # OpenAI protocol only; a text2image URL names its model

    def __post_init__(self) -> None:
        if self.protocol not in PROTOCOLS:
            raise ValueError(f"protocol must be one of {PROTOCOLS}, not {self.protocol!r}")

    @classmethod
    def from_settings(cls) -> EndpointConfig:
        url = settings.SDXL_ENDPOINT_URL
        protocol = settings.SDXL_ENDPOINT_PROTOCOL
        model = settings.SDXL_ENDPOINT_MODEL
        via = " · OpenAI-compatible API" if protocol == OPENAI else ""
        if settings.GALLERY_STANDIN:
            label = gettext_noop("Offline stand-in (not SDXL)") + via
        elif url in (settings.OVH_SDXL_URL, settings.OVH_OPENAI_URL):
            # On the OpenAI API the model is ours to name: say which one we asked for.
            what = (
                "Stable Diffusion XL"
                if protocol == TEXT2IMAGE or model == DEFAULT_OPENAI_MODEL
                else model
            )
            label = f"{what} · OVHcloud AI Endpoints{via}"
        elif protocol == OPENAI:
            label = f"{model} at {urlsplit(url).hostname or url}{via}"
        else:
            label = f"SDXL endpoint at {urlsplit(url).hostname or url}"
        return cls(
            url=url,
            token=settings.OVH_AI_ENDPOINTS_ACCESS_TOKEN,
            label=label[:100],  # Generation.endpoint_label's length
            protocol=protocol,
            model=model,
            connect_timeout=settings.GALLERY_CONNECT_TIMEOUT,
            read_timeout=settings.GALLERY_READ_TIMEOUT,
            max_bytes=settings.GALLERY_MAX_IMAGE_BYTES,
            max_pixels=settings.GALLERY_MAX_IMAGE_PIXELS,
        )

    @property
    def max_body_bytes(self) -> int:
        """The cap on the answer's body: the image itself, or its base64 in JSON (4/3 of it)."""
        if self.protocol == OPENAI:
            return (self.max_bytes + 2) // 3 * 4 + _JSON_SLACK
        return self.max_bytes

    @property
    def public_url(self) -> str:
        """The URL without any user:password part, safe to store and show."""
        parts = urlsplit(self.url)
        netloc = parts.hostname or ""
        if parts.port:
            netloc += f":{parts.port}"
        return parts._replace(netloc=netloc, query="", fragment="").geturl()


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with jitter for transient errors, honouring Retry-After."""

    max_attempts: int = 4
    base_delay: float = 2.0
    max_delay: float = 60.0

    @classmethod
    def from_settings(cls) -> RetryPolicy:
        return cls(
            max_attempts=max(1, settings.GALLERY_MAX_ATTEMPTS),
            base_delay=settings.GALLERY_RETRY_BASE_DELAY,
            max_delay=settings.GALLERY_RETRY_MAX_DELAY,
        )

    def delay(self, failed_attempt: int, error: EndpointError) -> float:
        """Seconds to wait after attempt number `failed_attempt` (1-based) failed."""
        backoff = min(self.max_delay, self.base_delay * 2 ** (failed_attempt - 1))
        # "Equal jitter": spread workers out without ever retrying almost at once.
        backoff = backoff / 2 + random.uniform(0, backoff / 2)
        if error.retry_after is not None:
            return min(max(error.retry_after, backoff), RETRY_AFTER_LIMIT)
        return backoff


# --- The client -----------------------------------------------------------------------------


class _BearerAuth(requests.auth.AuthBase):
    # An auth object (rather than a bare header) also stops requests from replacing the
    # header with credentials from a ~/.netrc.
    def __init__(self, token: str):
        self._token = token

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = f"Bearer {self._token}"
        return request

    def __repr__(self) -> str:
        return "_BearerAuth(<hidden>)"


class SDXLClient:
    def __init__(self, config: EndpointConfig, session: requests.Session | None = None):
        self.config = config
        self.session = session or requests.Session()

    def text2image(self, prompt: str, negative_prompt: str = "") -> images.VerifiedImage:
        """Ask the endpoint for one image and return it verified, or raise EndpointError."""
        cfg = self.config
        if cfg.protocol == OPENAI:
            body = {
                "model": cfg.model,
                "prompt": prompt,
                "n": 1,
                "size": OPENAI_SIZE,
                "response_format": "b64_json",
            }
            accept = "application/json"
        else:
            body = {"prompt": prompt}
            accept = "application/octet-stream"
        # Not in OpenAI's own API, but SDXL servers behind it take it (or ignore it); a
        # server that refuses it answers 400, and the reason then says so.
        if negative_prompt:
            body["negative_prompt"] = negative_prompt
        deadline = time.monotonic() + cfg.connect_timeout + cfg.read_timeout
        try:
            response = self.session.post(
                cfg.url,
                json=body,
                headers={"accept": accept, "content-type": "application/json"},
                auth=_BearerAuth(cfg.token) if cfg.token else None,
                timeout=(cfg.connect_timeout, cfg.read_timeout),
                stream=True,
                allow_redirects=False,  # a redirect must not carry the token anywhere else
            )
        except (
            requests.exceptions.InvalidURL,
            requests.exceptions.MissingSchema,
            requests.exceptions.InvalidSchema,
        ) as exc:
            raise RequestRejected(
                "The endpoint URL is not valid.", _scrub(repr(exc), cfg)
            ) from None
        except requests.Timeout as exc:
            raise EndpointTimeout(
                "The endpoint did not answer in time.", _scrub(repr(exc), cfg)
            ) from None
        except requests.RequestException as exc:
            raise EndpointUnreachable(
                "Could not reach the endpoint.", _scrub(repr(exc), cfg)
            ) from None

        with response:
            if warning := response.headers.get("x-warning"):
                logger.warning("Endpoint %s warns: %s", cfg.public_url, warning[:200])
            if response.status_code != 200:
                raise _error_for_status(response, cfg, sent_negative=bool(negative_prompt))
            data = self._read_body(response, deadline)
        if cfg.protocol == OPENAI:
            data = _image_from_json(data, cfg)
        try:
            return images.verify(data, max_pixels=cfg.max_pixels)
        except images.InvalidImageError as exc:
            carried = "base64 in JSON" if cfg.protocol == OPENAI else "the body"
            raise InvalidImage(
                str(exc),
                f"HTTP 200, Content-Type {response.headers.get('content-type')!r}, "
                f"{len(data)} bytes in {carried}, starts {data[:32]!r}",
            ) from None

    def _read_body(self, response: requests.Response, deadline: float) -> bytes:
        cfg = self.config
        limit = cfg.max_body_bytes
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            raise InvalidImage(
                "The endpoint sent a file larger than this gallery accepts.",
                f"Content-Length {declared} > {limit}",
            )
        chunks: list[bytes] = []
        received = 0
        try:
            for chunk in response.iter_content(_CHUNK):
                received += len(chunk)
                if received > limit:
                    raise InvalidImage(
                        "The endpoint sent a file larger than this gallery accepts.",
                        f"body passed {limit} bytes",
                    )
                if time.monotonic() > deadline:
                    raise EndpointTimeout(
                        "The endpoint took too long to send the image.",
                        f"{received} bytes received when the deadline passed",
                    )
                chunks.append(chunk)
        except requests.RequestException as exc:
            raise EndpointUnreachable(
                "The connection to the endpoint broke while the image was being sent.",
                _scrub(repr(exc), cfg),
            ) from None
        return b"".join(chunks)


def _image_from_json(body: bytes, cfg: EndpointConfig) -> bytes:
    """The image bytes in an OpenAI-style answer: JSON with data[0].b64_json, strict base64."""
    try:
        document = json.loads(body)
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
        raise InvalidImage(
            "The endpoint answered with something that is not JSON.",
            _scrub(f"HTTP 200, {len(body)} bytes, starts {body[:32]!r}", cfg),
        ) from None
    try:
        encoded = document["data"][0]["b64_json"]
    except (KeyError, IndexError, TypeError):
        raise InvalidImage(
            "The endpoint's answer holds no image (no data[0].b64_json).",
            _scrub(f"HTTP 200, JSON starts {body[:200]!r}", cfg),
        ) from None
    if not isinstance(encoded, str) or not encoded:
        raise InvalidImage(
            "The endpoint's answer holds no image (data[0].b64_json is empty or not a string).",
            f"b64_json is {type(encoded).__name__}: {str(encoded)[:32]!r}",
        )
    try:
        # validate=True: any character outside the alphabet, or bad padding, is an error,
        # where the default would silently skip it and decode something else.
        data = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidImage(
            "The endpoint's image is not valid base64.",
            _scrub(f"b64_json of {len(encoded)} characters, starts {encoded[:32]!r}", cfg),
        ) from None
    if len(data) > cfg.max_bytes:
        raise InvalidImage(
            "The endpoint sent a file larger than this gallery accepts.",
            f"decoded image of {len(data)} bytes > {cfg.max_bytes}",
        )
    return data


def _error_for_status(
    response: requests.Response, cfg: EndpointConfig, *, sent_negative: bool = False
) -> EndpointError:
    status = response.status_code
    try:
        snippet = response.raw.read(500, decode_content=True)
    except Exception:  # the body is only a hint for staff; a broken one is no news
        snippet = b""
    detail = _scrub(f"HTTP {status}; {_describe_error_body(snippet)}", cfg)
    if status in (401, 403):
        if not cfg.token:
            reason = "The endpoint requires an access token: set OVH_AI_ENDPOINTS_ACCESS_TOKEN."
        elif status == 401:
            reason = "The endpoint rejected the access token (invalid or expired)."
        else:
            reason = "The endpoint refused the access token (revoked or not allowed)."
        return AuthRejected(reason, detail)
    if status == 404:
        if cfg.protocol == OPENAI:
            return EndpointGone(
                f"The endpoint says the model {cfg.model!r} does not exist (HTTP 404).", detail
            )
        return EndpointGone("The endpoint says this model does not exist (HTTP 404).", detail)
    if status == 429:
        retry_after = _retry_after(response.headers)
        return RateLimited(
            "The endpoint's rate limit was reached (HTTP 429).", detail, retry_after=retry_after
        )
    if status >= 500 or status == 408:
        return ServerError(f"The endpoint failed on its side (HTTP {status}).", detail)
    if 300 <= status < 400:
        return RequestRejected(f"The endpoint answered with a redirect (HTTP {status}).", detail)
    reason = f"The endpoint refused the request (HTTP {status})."
    if cfg.protocol == OPENAI and status == 400 and sent_negative:
        # OpenAI's own API has no negative prompt; a strict server refuses the field.
        reason += " It may not accept a negative prompt: try again without one."
    return RequestRejected(reason, detail)


def _describe_error_body(snippet: bytes) -> str:
    """An error body for staff: an OpenAI-style {"error": {"message"}} read out, else its start."""
    try:
        message = json.loads(snippet)["error"]
        message = message.get("message", message) if isinstance(message, dict) else message
        if isinstance(message, str) and message:
            return f"error: {message[:300]!r}"
    except (ValueError, KeyError, TypeError, RecursionError):
        pass
    return f"body starts {snippet[:300]!r}"


# OpenAI's reset headers are durations: "1s", "6m0s", "20ms", "1h2m3.5s".
_DURATION = re.compile(
    r"(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m(?!s))?(?:(\d+(?:\.\d+)?)s)?"
    r"(?:(\d+(?:\.\d+)?)ms)?"
)


def _duration(value: str) -> float | None:
    match = _DURATION.fullmatch(value)
    if not value or not match:
        return None
    hours, minutes, seconds, millis = (float(part or 0) for part in match.groups())
    return hours * 3600 + minutes * 60 + seconds + millis / 1000


def _retry_after(headers: requests.structures.CaseInsensitiveDict) -> float | None:
    """Seconds to wait from Retry-After (seconds or an HTTP date), RateLimit-Reset, or
    OpenAI's x-ratelimit-reset-requests (a duration such as "6m0s")."""
    for name in (
        "retry-after",
        "ratelimit-reset",
        "x-ratelimit-reset",
        "x-ratelimit-reset-requests",
    ):
        value = headers.get(name, "").strip()
        if not value:
            continue
        seconds: float | None
        try:
            seconds = float(value)
        except ValueError:
            seconds = _duration(value)
            if seconds is None:
                try:
                    when = email.utils.parsedate_to_datetime(value)
                except (TypeError, ValueError):
                    continue
                seconds = when.timestamp() - time.time()
        if seconds == seconds:  # not NaN
            return max(0.0, min(seconds, RETRY_AFTER_LIMIT))
    return None


def _scrub(text: str, cfg: EndpointConfig) -> str:
    """Remove the token from text meant for logs or staff, whatever put it there."""
    return text.replace(cfg.token, "<token>") if cfg.token else text


@functools.cache
def _client_for(config: EndpointConfig) -> SDXLClient:
    return SDXLClient(config)


def get_client() -> SDXLClient:
    """The process-wide client for the configured endpoint (one Session, pooled connections)."""
    return _client_for(EndpointConfig.from_settings())
