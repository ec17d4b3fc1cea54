"""Account rules: the first-run administrator, sign-up modes and invitations, single sign-on
accounts, deleting an account. Views and the admin call these; nothing else decides them."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from importlib import import_module
from types import SimpleNamespace

from django.conf import settings
from django.contrib import auth
from django.contrib.auth import SESSION_KEY
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts import tokens
from accounts.models import Invite, OidcIdentity, SetupLock
from accounts.signals import account_deleting
from core import http
from core.models import SiteSettings

logger = logging.getLogger(__name__)


# --- Who is asking ----------------------------------------------------------------------


def identified(session_key: str, authorization: str) -> bool:
    """Whether a request carrying this session cookie or Authorization header comes from a
    signed-in user or a valid API token: the web server asks before it reads a large body."""
    if raw := http.bearer_in(authorization):
        try:
            tokens.authenticate(raw)
        except tokens.TokenError:
            return False
        return True
    if not session_key:
        return False
    store = import_module(settings.SESSION_ENGINE).SessionStore(session_key)
    return SESSION_KEY in store


def session_user(session_key: str) -> User | None:
    """The signed-in user this session cookie stands for, by Django's own check (the session
    exists and has not expired, the account is active, its password has not changed since),
    or None. For the web server's fast path, which answers before Django's middleware."""
    if not session_key:
        return None
    store = import_module(settings.SESSION_ENGINE).SessionStore(session_key)
    user = auth.get_user(SimpleNamespace(session=store))  # type: ignore[arg-type]
    return user if user.is_authenticated else None


# --- First run ------------------------------------------------------------------------------


def needs_setup() -> bool:
    """True while nobody has an account: the site offers to create the administrator."""
    return not User.objects.exists()


def create_first_admin(*, username: str, email: str, password: str) -> User:
    """Create the first account, a superuser, if there is still none. Of two people
    submitting at once exactly one succeeds: the check and the creation run in one
    transaction holding the setup lock (PostgreSQL: a row lock; SQLite: the write lock
    that `transaction_mode=IMMEDIATE` takes at the start of every transaction)."""
    SetupLock.objects.get_or_create(pk=1)
    with transaction.atomic():
        SetupLock.objects.select_for_update().get(pk=1)
        if User.objects.exists():
            raise PermissionDenied("The administrator account exists already.")
        return User.objects.create_superuser(username=username, email=email, password=password)


# --- Sign-up --------------------------------------------------------------------------------


class SignupClosed(Exception):
    """Sign-up is not possible: `message` says why, for the page."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


def signup_allowed(token: str | None = None) -> Invite | None:
    """Whether someone may sign up now, with this invitation token if any. Returns the
    invitation to use up (None in open mode without one); raises SignupClosed with the
    reason otherwise. An invitation staff made works in every mode: closing sign-up stops
    strangers, not the people an administrator invited."""
    mode = SiteSettings.load().signup_mode
    if token:
        invite = Invite.objects.filter(token=token).first()
        if invite is None:
            raise SignupClosed(_("This invitation link is not valid. Check that it is complete."))
        if invite.used_at is not None:
            raise SignupClosed(_("This invitation link has been used already; each works once."))
        if invite.expires_at <= timezone.now():
            raise SignupClosed(
                _("This invitation link has expired. Ask whoever sent it for a new one.")
            )
        return invite
    if mode == SiteSettings.SignupMode.CLOSED:
        raise SignupClosed(
            _(
                "Sign-up is closed on this gallery: accounts are created by its "
                "administrators. Ask one of them for an account."
            )
        )
    if mode == SiteSettings.SignupMode.INVITE:
        raise SignupClosed(
            _(
                "Sign-up on this gallery is by invitation. Ask an administrator for an "
                "invitation link."
            )
        )
    return None


def sign_up(*, username: str, email: str, password: str, token: str | None = None) -> User:
    """Create an account under the current sign-up mode. An invitation is used up in the
    same transaction, with a conditional UPDATE: of two people using one link at once, one
    gets the account and the other is told the link was used."""
    with transaction.atomic():
        invite = signup_allowed(token)
        user = User.objects.create_user(username=username, email=email, password=password)
        _use_up(invite, user)
    return user


def _use_up(invite: Invite | None, user: User) -> None:
    """Mark `invite` used by `user`, inside the transaction that created the account."""
    if invite is None:
        return
    taken = Invite.objects.filter(
        pk=invite.pk, used_at__isnull=True, expires_at__gt=timezone.now()
    ).update(used_by=user, used_at=timezone.now())
    if not taken:
        transaction.set_rollback(True)
        raise SignupClosed(_("This invitation link has been used already; each works once."))


# --- Single sign-on -------------------------------------------------------------------------


@dataclass(frozen=True)
class SsoClaims:
    """What an OpenID Connect provider vouched for, from a verified ID token (issuer,
    subject) and its userinfo (the rest)."""

    issuer: str
    subject: str
    email: str = ""
    email_verified: bool = False
    username: str = ""
    name: str = ""


def sso_sign_in(claims: SsoClaims, invite_token: str | None = None) -> User:
    """The account these claims sign in to. Found by its stored (issuer, subject) identity;
    else an existing account with the same *verified* email is connected to it (not staff:
    an administrator keeps signing in with a password); else an account is created under
    the sign-up mode, exactly as the sign-up form would (SignupClosed says why not). The
    returned user may be inactive: the caller refuses those."""
    try:
        return _sso_sign_in(claims, invite_token)
    except IntegrityError:
        # Another callback of the same person, or a same-named newcomer, won a race: the
        # second try finds the identity, or another free username.
        return _sso_sign_in(claims, invite_token)


def _sso_sign_in(claims: SsoClaims, invite_token: str | None) -> User:
    with transaction.atomic():
        identity = (
            OidcIdentity.objects.select_related("user")
            .filter(issuer=claims.issuer, subject=claims.subject)
            .first()
        )
        if identity is not None:
            identity.last_used_at = timezone.now()
            identity.save(update_fields=["last_used_at"])
            return identity.user
        user = _connectable_account(claims)
        if user is None:
            invite = signup_allowed(invite_token)
            user = User.objects.create_user(
                username=_free_username(claims),
                email=claims.email if claims.email_verified else "",
                password=None,  # unusable: this account signs in through the provider
                first_name=claims.name[:150],
            )
            _use_up(invite, user)
            logger.info("Account %s created at its first single sign-on", user.pk)
        OidcIdentity.objects.create(user=user, issuer=claims.issuer, subject=claims.subject)
    return user


def _connectable_account(claims: SsoClaims) -> User | None:
    """The one ordinary account whose email the provider verified, not yet connected to
    another identity at this provider."""
    if not (claims.email and claims.email_verified):
        return None
    matches = list(
        User.objects.filter(email__iexact=claims.email, is_staff=False, is_superuser=False)
        .exclude(oidc_identities__issuer=claims.issuer)
        .order_by("pk")[:2]
    )
    return matches[0] if len(matches) == 1 else None


_USERNAME_UNSAFE = re.compile(r"[^\w.@+-]")


def _free_username(claims: SsoClaims) -> str:
    """A username from the provider's preferred one (or the email's local part), reduced to
    the characters Django allows and made unique with a number."""
    wanted = claims.username or claims.email.partition("@")[0] or "user"
    base = _USERNAME_UNSAFE.sub("", wanted)[:140] or "user"
    taken = set(User.objects.filter(username__istartswith=base).values_list("username", flat=True))
    taken = {name.lower() for name in taken}
    candidate, number = base, 1
    while candidate.lower() in taken:
        number += 1
        candidate = f"{base}{number}"
    return candidate


# --- Deleting an account --------------------------------------------------------------------


def delete_account(user: User) -> None:
    """Delete `user`. What happens to their images is the gallery's rule (the site's
    account-deletion policy), applied by the receivers of `account_deleting` in the same
    transaction; their files go once it has committed."""
    if user.is_superuser and not (
        User.objects.filter(is_superuser=True, is_active=True).exclude(pk=user.pk).exists()
    ):
        raise ValidationError(
            _(
                "You are the only administrator. Make someone else an administrator first, "
                "so that the gallery is not left without one."
            )
        )
    with transaction.atomic():
        account_deleting.send(sender=User, user=user)
        pk = user.pk
        user.delete()
    logger.info("Account %s deleted", pk)
