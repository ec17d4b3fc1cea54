"""What a user may still ask for: images waiting in the queue and the daily quota, with
the per-address submission rate. How many run at once is the workers' and the endpoint's
business, not a per-user cap. The intake gate charges each new piece of work here; the
counting itself is accounts' rate limiter (`accounts.limits`)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AnonymousUser, User
from django.core.exceptions import ValidationError
from django.utils.translation import ngettext

from accounts import limits
from gallery.models import Generation


@dataclass
class QuotaStatus:
    """What the pages tell a user about their limits."""

    user: User
    daily_limit: int | None
    remaining_today: int | None
    resets_at: datetime | None
    max_waiting: int | None

    @property
    def resets_in(self) -> str:
        return (
            limits.in_words((self.resets_at - limits.clock()).total_seconds())
            if self.resets_at
            else ""
        )

    @cached_property
    def waiting(self) -> int:
        # Only counted where a page shows it (the prompt form shows the daily quota only).
        return _waiting(self.user)


def _waiting(user: User) -> int:
    """Images of the user's still in the queue (not yet started)."""
    return Generation.objects.filter(owner=user, status=Generation.Status.QUEUED).count()


def _limited(user: User | AnonymousUser | None) -> User | None:
    """The user, if limits apply to them. Staff are exempt; so is work submitted without
    an owner (the system's own)."""
    if user is None or isinstance(user, AnonymousUser) or user.is_staff:
        return None
    return user


def _daily_rate() -> limits.Rate | None:
    quota = settings.GALLERY_DAILY_QUOTA
    return limits.Rate(quota, 86400) if quota else None


def quota_status(user: User | AnonymousUser) -> QuotaStatus | None:
    """None for users without limits (staff, anonymous)."""
    limited = _limited(user)
    if limited is None:
        return None
    rate = _daily_rate()
    usage = limits.peek(f"quota:{limited.pk}", rate) if rate else None
    return QuotaStatus(
        user=limited,
        daily_limit=rate.count if rate else None,
        remaining_today=usage.remaining if usage else None,
        resets_at=usage.resets_at if usage else None,
        max_waiting=settings.GALLERY_MAX_WAITING or None,
    )


class SubmissionRefused(ValidationError):
    """A submission over a limit. `retry_after` is how many whole seconds until one can be
    accepted again (rounded up; an estimate for "images waiting"), as Retry-After wants."""

    def __init__(self, message: str, *, code: str, retry_after: float):
        super().__init__(message, code=code)
        self.retry_after = max(1, math.ceil(retry_after))


# What to tell an API client that has too many images waiting: about one generation.
IN_FLIGHT_RETRY_AFTER = 15


def charge_submission(owner: User | None, ip: str | None = None) -> None:
    """Check and count one new generation against the limits: per-IP rate, images waiting
    in the queue, daily quota. Call inside the transaction that creates the row, so a refused
    or rolled-back submission counts nothing. Raises SubmissionRefused (a ValidationError)
    saying what is left and when to try again."""
    limited = _limited(owner)
    if limited is None:
        return
    now = limits.clock()
    if ip:
        try:
            limits.check_ip("submit", ip, now)
        except limits.RateLimited as exc:
            raise SubmissionRefused(
                exc.message,
                code="rate_limited",
                retry_after=(exc.retry_at - now).total_seconds(),
            ) from None

    max_waiting = settings.GALLERY_MAX_WAITING
    if max_waiting:
        # Lock the user's row: two submissions of one user are counted one after the other.
        get_user_model().objects.select_for_update().filter(pk=limited.pk).first()
        waiting = _waiting(limited)
        if waiting >= max_waiting:
            # The API's code stays "in_flight": clients written against it keep working.
            # English says "images" for one too (the wording clients have seen so far).
            message = ngettext(
                "You already have %(waiting)s images waiting in the queue (the most is "
                "%(max_waiting)s). You can add more as soon as some of them have started.",
                "You already have %(waiting)s images waiting in the queue (the most is "
                "%(max_waiting)s). You can add more as soon as some of them have started.",
                waiting,
            )
            raise SubmissionRefused(
                message % {"waiting": waiting, "max_waiting": max_waiting},
                code="in_flight",
                retry_after=IN_FLIGHT_RETRY_AFTER,
            )

    rate = _daily_rate()
    if rate:
        usage = limits.consume(f"quota:{limited.pk}", rate, now)
        if not usage.allowed:
            wait = limits.in_words((usage.resets_at - now).total_seconds())
            # English says "all 1 images" too (the wording clients have seen so far).
            message = ngettext(
                "You have used all %(count)s images for today. You can generate again in "
                "%(wait)s (the quota resets at %(time)s UTC).",
                "You have used all %(count)s images for today. You can generate again in "
                "%(wait)s (the quota resets at %(time)s UTC).",
                rate.count,
            )
            raise SubmissionRefused(
                message % {"count": rate.count, "wait": wait, "time": f"{usage.resets_at:%H:%M}"},
                code="quota",
                retry_after=(usage.resets_at - now).total_seconds(),
            )
