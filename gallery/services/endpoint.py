"""The one HTTP client for text-to-image endpoints.

It speaks the OVHcloud AI Endpoints SDXL protocol: POST JSON {"prompt", "negative_prompt"},
get back the raw bytes of an image. Every answer is untrusted: the body is read with a size
and time cap, then fully verified before the caller sees it. Failures come out as typed
EndpointError subclasses whose `reason` can be shown to users and whose `detail` is for staff.
The access token goes only into the Authorization header of requests to the configured URL;
it is never put in an error, a log line or a repr.
"""

from __future__ import annotations

import email.utils
import functools
import logging
import random
import time
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import requests
from django.conf import settings

from gallery.services import images

logger = logging.getLogger(__name__)

# Upper bound on how long we wait because an endpoint asked us to (Retry-After).
RETRY_AFTER_LIMIT = 300.0
_CHUNK = 16 * 1024  # small, so a compressed body cannot overshoot the size cap by much


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
    """A 200 whose body is not an acceptable image (HTML, garbage, truncated, too big)."""

    code = "endpoint_invalid_image"


# --- Configuration --------------------------------------------------------------------------


@dataclass(frozen=True)
class EndpointConfig:
    url: str
    token: str = field(repr=False)
    label: str
    connect_timeout: float = 10.0
    read_timeout: float = 180.0
    max_bytes: int = 20 * 1024 * 1024
    max_pixels: int = 4096 * 4096

    @classmethod
    def from_settings(cls) -> EndpointConfig:
        url = settings.SDXL_ENDPOINT_URL
        if settings.GALLERY_STANDIN:
            label = "Offline stand-in (not SDXL)"
        elif url == settings.OVH_SDXL_URL:
            label = "Stable Diffusion XL · OVHcloud AI Endpoints"
        else:
            label = f"SDXL endpoint at {urlsplit(url).hostname or url}"
        return cls(
            url=url,
            token=settings.OVH_AI_ENDPOINTS_ACCESS_TOKEN,
            label=label,
            connect_timeout=settings.GALLERY_CONNECT_TIMEOUT,
            read_timeout=settings.GALLERY_READ_TIMEOUT,
            max_bytes=settings.GALLERY_MAX_IMAGE_BYTES,
            max_pixels=settings.GALLERY_MAX_IMAGE_PIXELS,
        )

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
        body = {"prompt": prompt}
        if negative_prompt:
            body["negative_prompt"] = negative_prompt
        cfg = self.config
        deadline = time.monotonic() + cfg.connect_timeout + cfg.read_timeout
        try:
            response = self.session.post(
                cfg.url,
                json=body,
                headers={"accept": "application/octet-stream", "content-type": "application/json"},
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
                raise _error_for_status(response, cfg)
            data = self._read_body(response, deadline)
        try:
            return images.verify(data, max_pixels=cfg.max_pixels)
        except images.InvalidImageError as exc:
            raise InvalidImage(
                str(exc),
                f"HTTP 200, Content-Type {response.headers.get('content-type')!r}, "
                f"{len(data)} bytes, starts {data[:32]!r}",
            ) from None

    def _read_body(self, response: requests.Response, deadline: float) -> bytes:
        cfg = self.config
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > cfg.max_bytes:
            raise InvalidImage(
                "The endpoint sent a file larger than this gallery accepts.",
                f"Content-Length {declared} > {cfg.max_bytes}",
            )
        chunks: list[bytes] = []
        received = 0
        try:
            for chunk in response.iter_content(_CHUNK):
                received += len(chunk)
                if received > cfg.max_bytes:
                    raise InvalidImage(
                        "The endpoint sent a file larger than this gallery accepts.",
                        f"body passed {cfg.max_bytes} bytes",
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


def _error_for_status(response: requests.Response, cfg: EndpointConfig) -> EndpointError:
    status = response.status_code
    try:
        snippet = response.raw.read(500, decode_content=True)
    except Exception:  # the body is only a hint for staff; a broken one is no news
        snippet = b""
    detail = _scrub(f"HTTP {status}; body starts {snippet[:300]!r}", cfg)
    if status in (401, 403):
        if not cfg.token:
            reason = "The endpoint requires an access token: set OVH_AI_ENDPOINTS_ACCESS_TOKEN."
        elif status == 401:
            reason = "The endpoint rejected the access token (invalid or expired)."
        else:
            reason = "The endpoint refused the access token (revoked or not allowed)."
        return AuthRejected(reason, detail)
    if status == 404:
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
    return RequestRejected(f"The endpoint refused the request (HTTP {status}).", detail)


def _retry_after(headers: requests.structures.CaseInsensitiveDict) -> float | None:
    """Seconds to wait from Retry-After (seconds or an HTTP date) or RateLimit-Reset."""
    for name in ("retry-after", "ratelimit-reset", "x-ratelimit-reset"):
        value = headers.get(name, "").strip()
        if not value:
            continue
        try:
            seconds = float(value)
        except ValueError:
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
