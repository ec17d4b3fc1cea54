"""API tokens: issue, authenticate, revoke.

A token is `sdxlg_` plus 32 random bytes (URL-safe base64). It is high-entropy, so a plain
SHA-256 digest is a safe thing to store and look up by (a slow password hash would buy
nothing and cost every API call). The token itself is returned once, by `issue`.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import ApiToken

PREFIX = "sdxlg_"
# last_used_at is written at most this often per token: not one UPDATE per API call.
LAST_USED_RESOLUTION = timedelta(minutes=1)
MAX_TOKENS_PER_USER = 50
# A revoked token stays on its owner's list this long (greyed, "revoked"), then only the
# admin shows it: long enough to see what was cut off, short enough to keep the list clean.
REVOKED_LISTED_FOR = timedelta(days=30)


class TokenError(Exception):
    """The request's token cannot be used. `status` is the HTTP status the hosted API
    answers in the same case: 401 missing/invalid, 403 revoked or the account disabled."""

    status = 401

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class TokenMissing(TokenError):
    pass


class TokenInvalid(TokenError):
    pass


class TokenRevoked(TokenError):
    status = 403


class AccountDisabled(TokenError):
    status = 403


def digest(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def issue(user: User, name: str) -> tuple[ApiToken, str]:
    """Make a token for `user`; returns the row and the token itself (shown once)."""
    name = (name or "").strip()
    if not user.is_active:
        raise ValidationError(_("The account is disabled: its tokens would not work."))
    if not name:
        raise ValidationError({"name": _("Give the token a name, to recognise it later.")})
    if len(name) > 100:
        raise ValidationError({"name": _("Keep the name to 100 characters.")})
    if ApiToken.objects.filter(user=user, revoked_at=None).count() >= MAX_TOKENS_PER_USER:
        raise ValidationError(
            _("You already have %(count)s tokens. Revoke one you no longer use.")
            % {"count": MAX_TOKENS_PER_USER}
        )
    raw = PREFIX + secrets.token_urlsafe(32)
    token = ApiToken.objects.create(
        user=user, name=name, prefix=raw[: len(PREFIX) + 6], digest=digest(raw)
    )
    return token, raw


def revoke(token: ApiToken) -> None:
    """Stop the token working, at once and for good. Revoking twice changes nothing."""
    ApiToken.objects.filter(pk=token.pk, revoked_at=None).update(revoked_at=timezone.now())
    token.refresh_from_db(fields=["revoked_at"])


def for_user(user: User) -> QuerySet[ApiToken]:
    """The tokens `user`'s token page lists, newest first: every active one, and those
    revoked in the last REVOKED_LISTED_FOR."""
    recently = timezone.now() - REVOKED_LISTED_FOR
    return ApiToken.objects.filter(user=user).filter(
        Q(revoked_at=None) | Q(revoked_at__gte=recently)
    )


def authenticate(raw: str) -> ApiToken:
    """The active token `raw` names, with its user loaded; TokenError saying why not."""
    if not raw:
        raise TokenMissing(_("This API needs a token: send 'Authorization: Bearer <token>'."))
    token = ApiToken.objects.select_related("user").filter(digest=digest(raw)).first()
    if token is None:
        raise TokenInvalid(_("The token is not valid."))
    if not token.is_active:
        raise TokenRevoked(_("The token has been revoked."))
    if not token.user.is_active:
        raise AccountDisabled(_("The token's account is disabled."))
    now = timezone.now()
    if token.last_used_at is None or token.last_used_at < now - LAST_USED_RESOLUTION:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        token.last_used_at = now
    return token
