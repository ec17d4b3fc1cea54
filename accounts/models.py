"""Accounts: invitations, the first-run guard, the counters behind quotas and rate limits, and
the per-account sign-in failures."""

import secrets
from datetime import timedelta

from django.conf import settings
from django.db import models
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _


def new_invite_token() -> str:
    return secrets.token_urlsafe(24)


def default_invite_expiry():
    return timezone.now() + timedelta(days=settings.GALLERY_INVITE_DAYS)


class Invite(models.Model):
    """A sign-up link staff hand to one person. It works once, until it expires."""

    token = models.CharField(
        max_length=64,
        unique=True,
        default=new_invite_token,
        editable=False,
        verbose_name=_("token"),
    )
    note = models.CharField(
        max_length=200,
        blank=True,
        help_text=_("Who it is for, to recognise it later."),
        verbose_name=_("note"),
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="invites_created",
        editable=False,
        verbose_name=_("created by"),
    )
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))
    expires_at = models.DateTimeField(default=default_invite_expiry, verbose_name=_("expires at"))
    used_by = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="invite_used",
        editable=False,
        verbose_name=_("used by"),
    )
    used_at = models.DateTimeField(null=True, blank=True, editable=False, verbose_name=_("used at"))

    class Meta:
        verbose_name = _("invite")
        verbose_name_plural = _("invites")
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.note or gettext("Invite %(token)s…") % {"token": self.token[:8]}

    def get_absolute_url(self) -> str:
        return reverse("accounts:signup_invite", args=[self.token])


class SetupLock(models.Model):
    """One row, locked while the first administrator is created, so that two people
    submitting the first-run form at once cannot both create one."""

    class Meta:
        verbose_name = _("first-run lock")
        verbose_name_plural = _("first-run locks")

    def __str__(self) -> str:
        return gettext("First-run lock")


class RateCounter(models.Model):
    """Hits of one key (an IP and an action, or a user's daily quota) in one fixed window.

    Incremented with a conditional UPDATE, so the count is exact across processes and
    machines sharing the database (no cache needed)."""

    key = models.CharField(max_length=200)
    window_start = models.DateTimeField()
    window_end = models.DateTimeField(db_index=True)
    hits = models.PositiveIntegerField(default=0)

    class Meta:
        verbose_name = _("rate counter")
        verbose_name_plural = _("rate counters")
        constraints = [
            models.UniqueConstraint(fields=["key", "window_start"], name="ratecounter_once"),
        ]

    def __str__(self) -> str:
        return f"{self.key} @ {self.window_start:%Y-%m-%d %H:%M}: {self.hits}"


class SigninFailures(models.Model):
    """Wrong passwords typed for one username (whether or not such an account exists), behind
    the per-account sign-in delays of `accounts.throttle`. `key` is a keyed hash of the
    normalised username: people sometimes type their password into the username field, and
    nothing they typed is stored."""

    key = models.CharField(max_length=64, unique=True)
    failures = models.PositiveIntegerField(default=0)
    # When the next password check for this username may happen: the end of its delay, or
    # the time of its last counted attempt while it has none. Rows quiet for a day go.
    retry_at = models.DateTimeField(db_index=True)

    class Meta:
        verbose_name = _("sign-in failures")
        verbose_name_plural = _("sign-in failures")

    def __str__(self) -> str:
        return f"{self.key[:12]}…: {self.failures} until {self.retry_at:%Y-%m-%d %H:%M:%S}"


class ApiToken(models.Model):
    """A Bearer token a user made for scripts and tools (the APIs). Only a SHA-256 digest is
    stored: the token itself is shown once, when it is made. Revoking keeps the row, so the
    owner still sees what the token was and when it was last used."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="api_tokens",
        verbose_name=_("user"),
    )
    name = models.CharField(
        max_length=100, help_text=_("What uses it, to recognise it later."), verbose_name=_("name")
    )
    # The token's first characters, shown in lists so that a user can tell tokens apart.
    prefix = models.CharField(max_length=16, editable=False, verbose_name=_("prefix"))
    digest = models.CharField(max_length=64, unique=True, editable=False, verbose_name=_("digest"))
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))
    last_used_at = models.DateTimeField(
        null=True, blank=True, editable=False, verbose_name=_("last used at")
    )
    revoked_at = models.DateTimeField(
        null=True, blank=True, editable=False, verbose_name=_("revoked at")
    )

    class Meta:
        verbose_name = _("API token")
        verbose_name_plural = _("API tokens")
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None


class OidcIdentity(models.Model):
    """An account's identity at an OpenID Connect provider: the (issuer, subject) pair the
    provider signs into every ID token. Single sign-on finds accounts by this pair only,
    never by an email address (which people can change, and some providers do not verify)."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="oidc_identities",
        verbose_name=_("user"),
    )
    issuer = models.CharField(max_length=255, verbose_name=_("issuer"))
    subject = models.CharField(max_length=255, verbose_name=_("subject"))
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))
    last_used_at = models.DateTimeField(default=timezone.now, verbose_name=_("last used at"))

    class Meta:
        verbose_name = _("single sign-on identity")
        verbose_name_plural = _("single sign-on identities")
        constraints = [
            models.UniqueConstraint(fields=["issuer", "subject"], name="oidcidentity_once"),
        ]

    def __str__(self) -> str:
        return gettext("%(subject)s at %(issuer)s") % {
            "subject": self.subject,
            "issuer": self.issuer,
        }
