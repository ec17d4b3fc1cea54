"""The ASGI application: what `make run` and `make serve-prod` serve (through uvicorn).

Under ASGI a connection that is slow to send its request costs the server a coroutine, not
a thread, so stalled clients cannot take the site down (docs/decisions.md, "The web
server"). Django's handler would wait for a request body for ever and take any size of it
from anyone; ours reads it only within GALLERY_BODY_DEADLINE seconds, and takes more than
GALLERY_ANONYMOUS_BODY_MAX bytes (the verify page: one image) only from a request that
carries a valid session or API token, checked before the first byte of the body is read.

Thumbnails and previews (GET or HEAD, no query, no Range, no Authorization) are answered
here from the process's memory, before the middleware stack: at their public URL
(`/media/<id>/public/<name>`) while anyone may see them, at their private URL for a
session cookie whose user may (gallery/services/media_cache.py decides, by asking
gallery/services/access.py); anything else, or anything the cache does not vouch for, goes
to Django and its full check (docs/decisions.md, "Public thumbnails at static speed").

The signed-out grid page is answered here too, for a request with no cookie and no
Authorization at all, once Django has answered the same request with a page it keeps
(gallery/services/page_cache.py): the whole answer, the middleware's headers included, is
kept under the request's host, scheme, path and query, Accept-Language and HX-Request,
valid under the page's own stamps (docs/decisions.md, "The signed-out grid from memory").

Static files are answered here too, by whitenoise's own lookup and headers, so that they
do not pay for Django's request machinery either (whitenoise's middleware is WSGI-minded:
inside Django's ASGI handler it makes a few hundred responses a second, not thousands).
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import logging
import os
import re
import signal
import sys
import tempfile
import threading
import time

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import django

django.setup(set_prefix=False)

from asgiref.sync import sync_to_async  # noqa: E402
from django.conf import settings  # noqa: E402
from django.core.exceptions import RequestAborted  # noqa: E402
from django.core.handlers.asgi import ASGIHandler  # noqa: E402
from django.http.request import split_domain_port, validate_host  # noqa: E402
from django.urls import reverse  # noqa: E402
from whitenoise.middleware import WhiteNoiseMiddleware  # noqa: E402

from accounts.services import identified  # noqa: E402
from gallery.middleware import request_id  # noqa: E402
from gallery.services import media_cache, page_cache  # noqa: E402
from gallery.views import files  # noqa: E402

# The event loop answers thumbnails and static files while a page renders in Django's
# thread; Python hands the GIL over every 5 ms by default, so each of those quick answers
# could wait up to 5 ms behind a render. 1 ms keeps them quick when both run at once.
sys.setswitchinterval(0.001)

logger = logging.getLogger("gallery.media")

# The request being handled, for read_body (which Django calls with `receive` only).
_current: contextvars.ContextVar[tuple[dict, object]] = contextvars.ContextVar("request")


class GalleryASGIHandler(ASGIHandler):
    async def handle(self, scope, receive, send) -> None:
        if (
            await _media(scope, send)
            or await _static_file(scope, send)
            or await _kept_page(scope, send)
        ):
            return
        reset = _current.set((scope, send))
        try:
            await super().handle(scope, receive, send)
        finally:
            _current.reset(reset)

    async def send_response(self, response, send):
        page = getattr(response, "kept_page", None)  # set by the grid's view
        scope = _current.get()[0]
        traits = _page_traits(scope, dict(scope["headers"])) if page is not None else None
        if traits is not None:
            headers = [
                (name.lower().encode("latin-1"), value.encode("latin-1"))
                for name, value in response.items()
                if name.lower() != "x-request-id"  # each answer has its own
            ]
            page_cache.keep_reply(traits, page, status=response.status_code, headers=headers)
        await super().send_response(response, send)

    async def read_body(self, receive):
        scope, send = _current.get()
        headers = {k.lower(): v for k, v in scope.get("headers", [])}
        length = _content_length(headers)
        if length == 0 and b"transfer-encoding" not in headers:
            return await super().read_body(receive)  # no body: nothing to wait for
        if length is None and b"transfer-encoding" not in headers:
            await _refuse(send, 400, "The Content-Length header is not a number.")
            raise RequestAborted
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE or 2**31
        anonymous = _anonymous_limit(scope.get("path", ""))
        if limit > anonymous and not await _identified(headers):
            limit = anonymous
        if length is not None and length > limit:
            await _refuse(send, 413, "The request body is too large.")
            raise RequestAborted
        body = tempfile.SpooledTemporaryFile(  # noqa: SIM115  (Django closes it)
            max_size=settings.FILE_UPLOAD_MAX_MEMORY_SIZE, mode="w+b"
        )
        try:
            async with asyncio.timeout(settings.GALLERY_BODY_DEADLINE):
                size = 0
                while True:
                    message = await receive()
                    if message["type"] == "http.disconnect":
                        raise RequestAborted
                    chunk = message.get("body", b"")
                    size += len(chunk)
                    if size > limit:
                        await _refuse(send, 413, "The request body is too large.")
                        raise RequestAborted
                    body.write(chunk)
                    if not message.get("more_body", False):
                        break
        except TimeoutError:
            body.close()
            await _refuse(send, 408, "The request body did not arrive in time.")
            raise RequestAborted from None
        except RequestAborted:
            body.close()
            raise
        body.seek(0)
        return body


# Room for the multipart wrapping around an uploaded file.
MULTIPART_SLACK = 64 * 1024


def _anonymous_limit(path: str) -> int:
    """What a request without a valid session or token may send to `path`: a form, or on the
    verify page, which anyone may use, one image to check."""
    if path == reverse("gallery:verify"):
        return settings.GALLERY_VERIFY_MAX_BYTES + MULTIPART_SLACK
    return settings.GALLERY_ANONYMOUS_BODY_MAX


_MEDIA = re.compile(r"/media/([-a-zA-Z0-9_]+)/(public/)?([^/]+)")


async def _media(scope, send) -> bool:
    """Answer a thumbnail or preview from memory: at its public URL while anyone may see it,
    at its private URL for a session cookie whose user may; False: Django will."""
    if (
        scope["type"] != "http"
        or scope["method"] not in ("GET", "HEAD")
        or scope.get("query_string")
    ):
        return False
    match = _MEDIA.fullmatch(scope["path"])
    if match is None or not media_cache.enabled():
        return False
    headers = dict(scope["headers"])
    if b"authorization" in headers or b"range" in headers or not _acceptable(scope, headers):
        return False
    public_id, filename = match[1], match[3]
    session_key = "" if match[2] else _session_key(headers)
    if not match[2] and not session_key:
        return False  # a private URL without a session: Django says 404 (or takes a token)
    entry = media_cache.cached(public_id, filename, session_key)
    if entry is None:
        try:
            if session_key:
                fill = sync_to_async(media_cache.fill_for_session, thread_sensitive=False)
                entry = await fill(session_key, public_id, filename)
            else:
                fill = sync_to_async(media_cache.fill, thread_sensitive=False)
                entry = await fill(public_id, filename)
        except Exception:
            logger.exception("The media cache could not look up %s", scope["path"])
            return False
        if entry is None:
            return False
    fresh = headers.get(b"if-none-match", b"").decode("latin-1")
    status = 304 if entry.etag in (fresh, "*") or entry.etag in fresh.split(", ") else 200
    response_headers = [
        (b"etag", entry.etag.encode()),
        (b"cache-control", (files.PUBLIC_IMMUTABLE if entry.shared else files.IMMUTABLE).encode()),
        *_security_headers(scope, headers),
    ]
    if not entry.shared:
        response_headers.append((b"vary", b"Cookie"))  # as Django's session middleware says
    if status == 200:
        response_headers += [
            (b"content-type", entry.content_type.encode()),
            (b"content-length", str(len(entry.body)).encode()),
            (b"accept-ranges", b"bytes"),
        ]
    await send({"type": "http.response.start", "status": status, "headers": response_headers})
    body = entry.body if status == 200 and scope["method"] == "GET" else b""
    await send({"type": "http.response.body", "body": body})
    return True


# Whitenoise's table of the collected files, built once; in development (autorefresh, finders)
# Django's own path serves them, so an edited file shows at once.
_STATIC = None if settings.DEBUG else WhiteNoiseMiddleware()


async def _static_file(scope, send) -> bool:
    """Answer a collected static file the way whitenoise would; False: Django will."""
    if _STATIC is None or scope["type"] != "http" or scope["method"] not in ("GET", "HEAD"):
        return False
    static_file = _STATIC.files.get(scope["path"])
    if static_file is None:
        return False
    headers = dict(scope["headers"])
    if not _acceptable(scope, headers):
        return False
    # Whitenoise reads the request's headers the WSGI way.
    environ = {
        "HTTP_" + name.decode("latin-1").upper().replace("-", "_"): value.decode("latin-1")
        for name, value in scope["headers"]
    }
    response = static_file.get_response(scope["method"], environ)
    body = b""
    if response.file is not None:
        with response.file as handle:
            body = handle.read()  # small files, from the page cache: no thread needed
    response_headers = [
        (name.lower().encode("latin-1"), str(value).encode("latin-1"))
        for name, value in response.headers
    ]
    response_headers += _security_headers(scope, headers)
    await send({
        "type": "http.response.start", "status": int(response.status), "headers": response_headers
    })  # fmt: skip
    await send({"type": "http.response.body", "body": body})
    return True


def _page_traits(scope, headers: dict[bytes, bytes]) -> page_cache.Traits | None:
    """What a request for the grid with no cookie and no Authorization is kept under;
    None for any other request (Django answers it)."""
    if scope["type"] != "http" or scope["method"] != "GET" or scope["path"] != _grid_path():
        return None
    if b"cookie" in headers or b"authorization" in headers or not _acceptable(scope, headers):
        return None
    path = scope["path"].encode() + b"?" + scope.get("query_string", b"")
    return (
        headers.get(b"host", b""),
        _secure(scope, headers),
        path,
        headers.get(b"accept-language", b""),
        headers.get(b"hx-request") == b"true",  # as django-htmx reads it
    )


@functools.cache
def _grid_path() -> str:
    return reverse("gallery:index")


async def _kept_page(scope, send) -> bool:
    """Answer the signed-out grid from Django's own answer to the same request, kept while
    nothing it shows has changed; False: Django will."""
    headers = dict(scope.get("headers", ()))
    traits = _page_traits(scope, headers)
    kept = page_cache.reply(traits) if traits is not None else None
    if kept is None:
        return False
    rid = request_id(headers.get(b"x-request-id", b"").decode("latin-1"))
    await send({
        "type": "http.response.start", "status": kept.status,
        "headers": [*kept.headers, (b"x-request-id", rid.encode())],
    })  # fmt: skip
    await send({"type": "http.response.body", "body": kept.body})
    return True


def _secure(scope, headers: dict[bytes, bytes]) -> bool:
    if scope.get("scheme") == "https":
        return True
    if settings.SECURE_PROXY_SSL_HEADER:
        name, value = settings.SECURE_PROXY_SSL_HEADER
        header = name.removeprefix("HTTP_").replace("_", "-").lower().encode()
        return headers.get(header, b"").decode("latin-1") == value
    return False


def _acceptable(scope, headers: dict[bytes, bytes]) -> bool:
    """What Django would check before any view: an allowed Host, and HTTPS where required
    (otherwise Django answers: 400, or the redirect to HTTPS)."""
    domain, _ = split_domain_port(headers.get(b"host", b"").decode("latin-1"))
    allowed = settings.ALLOWED_HOSTS
    if settings.DEBUG and not allowed:
        allowed = [".localhost", "127.0.0.1", "[::1]"]
    if not domain or not validate_host(domain, allowed):
        return False
    return not settings.SECURE_SSL_REDIRECT or _secure(scope, headers)


def _security_headers(scope, headers: dict[bytes, bytes]) -> list[tuple[bytes, bytes]]:
    """The headers Django's middleware would add to an image (SecurityMiddleware,
    XFrameOptionsMiddleware) and the media CSP."""
    out = [(b"content-security-policy", files.MEDIA_CSP.encode())]
    if settings.SECURE_CONTENT_TYPE_NOSNIFF:
        out.append((b"x-content-type-options", b"nosniff"))
    if settings.SECURE_REFERRER_POLICY:
        policy = settings.SECURE_REFERRER_POLICY
        policy = policy if isinstance(policy, str) else ",".join(policy)
        out.append((b"referrer-policy", policy.encode()))
    if settings.SECURE_CROSS_ORIGIN_OPENER_POLICY:
        out.append(
            (b"cross-origin-opener-policy", settings.SECURE_CROSS_ORIGIN_OPENER_POLICY.encode())
        )
    out.append((b"x-frame-options", settings.X_FRAME_OPTIONS.encode()))
    if settings.SECURE_HSTS_SECONDS and _secure(scope, headers):
        hsts = f"max-age={settings.SECURE_HSTS_SECONDS}"
        if settings.SECURE_HSTS_INCLUDE_SUBDOMAINS:
            hsts += "; includeSubDomains"
        if settings.SECURE_HSTS_PRELOAD:
            hsts += "; preload"
        out.append((b"strict-transport-security", hsts.encode()))
    return out


def _content_length(headers: dict[bytes, bytes]) -> int | None:
    """The declared length (0 when absent), or None when it is not a number."""
    value = headers.get(b"content-length", b"0").strip()
    return int(value) if value.isdigit() else None


def _session_key(headers: dict[bytes, bytes]) -> str:
    """The session cookie's value, or ""."""
    session_key = ""
    for part in headers.get(b"cookie", b"").decode("latin-1").split(";"):
        name, _, value = part.strip().partition("=")
        if name == settings.SESSION_COOKIE_NAME:
            session_key = value
    return session_key


async def _identified(headers: dict[bytes, bytes]) -> bool:
    session_key = _session_key(headers)
    authorization = headers.get(b"authorization", b"").decode("latin-1")
    if not session_key and not authorization:
        return False
    return await sync_to_async(identified)(session_key, authorization)


async def _refuse(send, status: int, message: str) -> None:
    """Answer without reading on, and close the connection."""
    body = (message + "\n").encode()
    await send({
        "type": "http.response.start",
        "status": status,
        "headers": [
            (b"content-type", b"text/plain; charset=utf-8"),
            (b"content-length", str(len(body)).encode()),
            (b"connection", b"close"),
        ],
    })  # fmt: skip
    await send({"type": "http.response.body", "body": body})


def _stop_with_parent(parent: int) -> None:
    """In a process uvicorn started for the app: stop (gracefully) when its parent is gone,
    rather than live on holding the port, so a web server started again can listen."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


if (parent := int(os.environ.get("WEB_SERVER_PID", "0"))) and parent != os.getpid():
    _stop_with_parent(parent)

application = GalleryASGIHandler()
