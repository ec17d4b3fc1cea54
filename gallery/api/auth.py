"""Who calls the JSON API: a gallery-issued Bearer token, and nothing else.

The session cookie is never read: every operation is CSRF-exempt (ninja), so accepting the
cookie would let any other site act as a signed-in visitor. An API call is either the
token's owner or anonymous."""

from __future__ import annotations

from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.models import AnonymousUser
from django.http import HttpRequest
from django.utils.translation import gettext
from django.utils.translation import gettext_noop as _
from ninja.security import HttpBearer

from accounts import tokens
from core import http
from core.models import SiteSettings

ANONYMOUS_REFUSED = _(
    "This gallery is open to signed-in users only: send 'Authorization: Bearer <token>'."
)


class BearerToken(HttpBearer):
    """`Authorization: Bearer <token>`; `request.auth` becomes the token's user.

    With `optional=True` a request without the header is served as the anonymous visitor
    (if the site lets anonymous visitors browse). A header with a bad token is refused either
    way, rather than quietly served as anonymous."""

    def __init__(self, *, optional: bool = False):
        self.optional = optional
        super().__init__()

    def __call__(self, request: HttpRequest) -> AbstractBaseUser | AnonymousUser:
        raw = http.bearer(request)
        if not raw and self.optional and "Authorization" not in request.headers:
            if not SiteSettings.load().anonymous_browsing:
                raise tokens.TokenMissing(gettext(ANONYMOUS_REFUSED))
            return AnonymousUser()
        return self.authenticate(request, raw)

    def authenticate(self, request: HttpRequest, token: str) -> AbstractBaseUser:
        # TokenError (401 or 403) goes to the API's handler, with its message.
        return tokens.authenticate(token).user


required = BearerToken()
optional = BearerToken(optional=True)
