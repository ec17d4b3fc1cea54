"""Quotas and rate limits: the service every limit goes through.

Counts live in the database (`RateCounter`, one row per key and fixed window), incremented
with a conditional UPDATE: exact across gunicorn processes and machines on SQLite and
PostgreSQL alike, with nothing else to run. (django-ratelimit needs a cache with atomic
increments; Django's database cache increments by read-then-write and would undercount.)
"""

from __future__ import annotations

import ipaddress
import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cached_property

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.core.exceptions import ImproperlyConfigured, ValidationError
from django.db import IntegrityError, transaction
from django.db.models import F
from django.http import HttpRequest
from django.utils import timezone

from accounts.models import RateCounter
from gallery.models import Generation


def _now() -> datetime:
    """The limits' clock; tests replace it."""
    return timezone.now()


_UNITS = {"s": 1, "m": 60, "min": 60, "h": 3600, "d": 86400}
_RATE = re.compile(r"^\s*(\d+)\s*/\s*(\d*)\s*(s|min|m|h|d)\s*$")


@dataclass(frozen=True)
class Rate:
    """`count` hits per `seconds`; parsed from "30/m", "10/5m", "50/d"."""

    count: int
    seconds: int

    @classmethod
    def parse(cls, text: str | None) -> Rate | None:
        """None for "", "0" or "off": no limit."""
        if not text or text.strip().lower() in ("0", "off", "none"):
            return None
        match = _RATE.match(text)
        if not match:
            raise ImproperlyConfigured(f"Not a rate: {text!r} (use e.g. 30/m, 10/5m, 50/d)")
        count, multiple, unit = match.groups()
        if int(count) == 0:
            return None
        return cls(int(count), int(multiple or 1) * _UNITS[unit])


@dataclass(frozen=True)
class Usage:
    allowed: bool
    used: int
    limit: int
    resets_at: datetime

    @property
    def remaining(self) -> int:
        return max(0, self.limit - self.used)


class RateLimited(Exception):
    def __init__(self, message: str, retry_at: datetime):
        super().__init__(message)
        self.message = message
        self.retry_at = retry_at


def _window(rate: Rate, now: datetime) -> tuple[datetime, datetime]:
    # Windows aligned on the epoch: a day's window runs from midnight to midnight UTC.
    start = int(now.timestamp()) // rate.seconds * rate.seconds
    begin = datetime.fromtimestamp(start, tz=UTC)
    return begin, begin + timedelta(seconds=rate.seconds)


def consume(key: str, rate: Rate, now: datetime | None = None) -> Usage:
    """Count one hit against `key` unless its window is full. Exact under concurrency: the
    increment and the "not full yet" check are one UPDATE."""
    now = now or _now()
    start, end = _window(rate, now)
    row = RateCounter.objects.filter(key=key, window_start=start)
    with transaction.atomic():
        counted = row.filter(hits__lt=rate.count).update(hits=F("hits") + 1)
        if not counted:
            try:
                with transaction.atomic():  # a savepoint: the row may exist already
                    RateCounter.objects.create(key=key, window_start=start, window_end=end, hits=1)
                counted = 1
                # A new window began: drop windows that are over (keeps the table small).
                RateCounter.objects.filter(window_end__lt=now - timedelta(days=1)).delete()
            except IntegrityError:
                counted = row.filter(hits__lt=rate.count).update(hits=F("hits") + 1)
        used = row.values_list("hits", flat=True).first() or 0
    return Usage(allowed=bool(counted), used=used, limit=rate.count, resets_at=end)


def peek(key: str, rate: Rate, now: datetime | None = None) -> Usage:
    """The usage of `key`'s current window, without counting a hit."""
    now = now or _now()
    start, end = _window(rate, now)
    used = (
        RateCounter.objects.filter(key=key, window_start=start)
        .values_list("hits", flat=True)
        .first()
    ) or 0
    return Usage(allowed=used < rate.count, used=used, limit=rate.count, resets_at=end)


def in_words(seconds: float) -> str:
    """40 s, 3 min, 2 h 5 min: how long until someone can try again."""
    seconds = max(1, round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes = -(-seconds // 60)  # round up: never tell people to come back too early
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min" if minutes else f"{hours} h"


# --- Client addresses -----------------------------------------------------------------------


def client_ip(request: HttpRequest) -> str:
    """The client's address: REMOTE_ADDR, or behind a proxy the configured header only
    (GALLERY_TRUSTED_PROXY_HEADER), whose last entry is the one our own proxy added.
    IPv6 clients are grouped by /64, the block one household or host usually gets."""
    address = request.META.get("REMOTE_ADDR", "")
    header = settings.GALLERY_TRUSTED_PROXY_HEADER
    if header:
        value = request.META.get("HTTP_" + header.upper().replace("-", "_"), "")
        entries = [part.strip() for part in value.split(",") if part.strip()]
        if entries:
            address = entries[-1]
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address[:64] or "unknown"
    if ip.version == 6:
        if ip.ipv4_mapped:
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


def check_ip(action: str, ip: str, now: datetime | None = None) -> None:
    """Count one `action` ("signin", "submit", ...) from `ip`; RateLimited when over."""
    rate = Rate.parse(settings.GALLERY_IP_RATES.get(action, ""))
    if rate is None or not ip:
        return
    now = now or _now()
    usage = consume(f"ip:{action}:{ip}", rate, now)
    if not usage.allowed:
        wait = in_words((usage.resets_at - now).total_seconds())
        what = {"signin": "sign-in attempts", "submit": "images requested"}.get(action, "requests")
        raise RateLimited(
            f"Too many {what} from your network. Try again in {wait}.", usage.resets_at
        )


# --- Generation quotas ----------------------------------------------------------------------


@dataclass
class QuotaStatus:
    """What the pages tell a user about their limits."""

    user: AbstractBaseUser
    daily_limit: int | None
    remaining_today: int | None
    resets_at: datetime | None
    max_in_flight: int | None

    @property
    def resets_in(self) -> str:
        return in_words((self.resets_at - _now()).total_seconds()) if self.resets_at else ""

    @cached_property
    def in_flight(self) -> int:
        # Only counted where a page shows it (the prompt form shows the daily quota only).
        return _in_flight(self.user)


def _in_flight(user: AbstractBaseUser) -> int:
    return Generation.objects.filter(
        owner=user, status__in=(Generation.Status.QUEUED, Generation.Status.RUNNING)
    ).count()


def _exempt(user: AbstractBaseUser | AnonymousUser | None) -> bool:
    # Staff are exempt; so is work submitted without an owner (the system's own).
    return user is None or not user.is_authenticated or user.is_staff


def _daily_rate() -> Rate | None:
    quota = settings.GALLERY_DAILY_QUOTA
    return Rate(quota, 86400) if quota else None


def quota_status(user: AbstractBaseUser | AnonymousUser) -> QuotaStatus | None:
    """None for users without limits (staff, anonymous)."""
    if _exempt(user):
        return None
    rate = _daily_rate()
    usage = peek(f"quota:{user.pk}", rate) if rate else None
    return QuotaStatus(
        user=user,
        daily_limit=rate.count if rate else None,
        remaining_today=usage.remaining if usage else None,
        resets_at=usage.resets_at if usage else None,
        max_in_flight=settings.GALLERY_MAX_IN_FLIGHT or None,
    )


class SubmissionRefused(ValidationError):
    """A submission over a limit. `retry_after` is how many whole seconds until one can be
    accepted again (rounded up; an estimate for "images in progress"), as Retry-After wants."""

    def __init__(self, message: str, *, code: str, retry_after: float):
        super().__init__(message, code=code)
        self.retry_after = max(1, math.ceil(retry_after))


# What to tell an API client that has too many images in progress: about one generation.
IN_FLIGHT_RETRY_AFTER = 15


def charge_submission(owner: AbstractBaseUser | None, ip: str | None = None) -> None:
    """Check and count one new generation against the limits: per-IP rate, images in
    progress, daily quota. Call inside the transaction that creates the row, so a refused
    or rolled-back submission counts nothing. Raises SubmissionRefused (a ValidationError)
    saying what is left and when to try again."""
    if _exempt(owner):
        return
    now = _now()
    if ip:
        try:
            check_ip("submit", ip, now)
        except RateLimited as exc:
            raise SubmissionRefused(
                exc.message,
                code="rate_limited",
                retry_after=(exc.retry_at - now).total_seconds(),
            ) from None

    max_in_flight = settings.GALLERY_MAX_IN_FLIGHT
    if max_in_flight:
        # Lock the user's row: two submissions of one user are counted one after the other.
        get_user_model().objects.select_for_update().filter(pk=owner.pk).first()
        in_flight = _in_flight(owner)
        if in_flight >= max_in_flight:
            raise SubmissionRefused(
                f"You already have {in_flight} images in progress (the most at once is "
                f"{max_in_flight}). You can submit another as soon as one of them is done.",
                code="in_flight",
                retry_after=IN_FLIGHT_RETRY_AFTER,
            )

    rate = _daily_rate()
    if rate:
        usage = consume(f"quota:{owner.pk}", rate, now)
        if not usage.allowed:
            wait = in_words((usage.resets_at - now).total_seconds())
            raise SubmissionRefused(
                f"You have used all {rate.count} images for today. You can generate again "
                f"in {wait} (the quota resets at {usage.resets_at:%H:%M} UTC).",
                code="quota",
                retry_after=(usage.resets_at - now).total_seconds(),
            )
