"""A request id for every request: taken from the proxy's X-Request-ID when it looks sane,
otherwise made here; echoed in the response and put on every log line of the request."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable

from django.core.signals import request_finished
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponseBase

from gallery import logcontext

# A proxy's id is trusted only if it is short and plain: it ends up in logs.
_SANE_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")


def request_id(incoming: str) -> str:
    """The proxy's id when it looks sane, else a new one (also config/asgi.py's, for the
    answers it gives before Django)."""
    return incoming if _SANE_ID.match(incoming) else uuid.uuid4().hex


class RequestIdMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        rid = request_id(request.headers.get("X-Request-ID", ""))
        request.request_id = rid
        # Not reset on the way out: Django logs the response ("Not Found: ...") after the
        # middleware returns. It is cleared when the request finishes (below).
        logcontext.request_id.set(rid)
        response = self.get_response(request)
        response["X-Request-ID"] = rid
        return response


@receiver(request_finished)
def _forget_request_id(**kwargs) -> None:
    logcontext.request_id.set("")
