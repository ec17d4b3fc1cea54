"""The ASGI application: what `make run` and `make serve-prod` serve (through uvicorn).

Under ASGI a connection that is slow to send its request costs the server a coroutine, not
a thread, so stalled clients cannot take the site down (docs/decisions.md, "The web
server"). Django's handler would wait for a request body for ever and take any size of it
from anyone; ours reads it only within GALLERY_BODY_DEADLINE seconds, and takes more than
GALLERY_ANONYMOUS_BODY_MAX bytes (the verify page: one image) only from a request that
carries a valid session or API token, checked before the first byte of the body is read.
"""

from __future__ import annotations

import asyncio
import contextvars
import os
import signal
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
from django.urls import reverse  # noqa: E402

from accounts.services import identified  # noqa: E402

# The request being handled, for read_body (which Django calls with `receive` only).
_current: contextvars.ContextVar[tuple[dict, object]] = contextvars.ContextVar("request")


class GalleryASGIHandler(ASGIHandler):
    async def handle(self, scope, receive, send) -> None:
        reset = _current.set((scope, send))
        try:
            await super().handle(scope, receive, send)
        finally:
            _current.reset(reset)

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


def _content_length(headers: dict[bytes, bytes]) -> int | None:
    """The declared length (0 when absent), or None when it is not a number."""
    value = headers.get(b"content-length", b"0").strip()
    return int(value) if value.isdigit() else None


async def _identified(headers: dict[bytes, bytes]) -> bool:
    cookies = headers.get(b"cookie", b"").decode("latin-1")
    session_key = ""
    for part in cookies.split(";"):
        name, _, value = part.strip().partition("=")
        if name == settings.SESSION_COOKIE_NAME:
            session_key = value
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
