"""Rate limits: counting hits per key in fixed windows, for every limit of the site.

Counts live in the database (`RateCounter`, one row per key and fixed window), incremented
with a conditional UPDATE: exact across web server processes and machines on SQLite and
PostgreSQL alike, with nothing else to run. (django-ratelimit needs a cache with atomic
increments; Django's database cache increments by read-then-write and would undercount.)
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import RateCounter


def clock() -> datetime:
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
    now = now or clock()
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
    now = now or clock()
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
        return _("%(seconds)s s") % {"seconds": seconds}
    minutes = -(-seconds // 60)  # round up: never tell people to come back too early
    if minutes < 60:
        return _("%(minutes)s min") % {"minutes": minutes}
    hours, minutes = divmod(minutes, 60)
    if minutes:
        return _("%(hours)s h %(minutes)s min") % {"hours": hours, "minutes": minutes}
    return _("%(hours)s h") % {"hours": hours}


def check_ip(action: str, ip: str, now: datetime | None = None) -> None:
    """Count one `action` ("signin", "submit", ...) from `ip`; RateLimited when over."""
    rate = Rate.parse(settings.GALLERY_IP_RATES.get(action, ""))
    if rate is None or not ip:
        return
    now = now or clock()
    usage = consume(f"ip:{action}:{ip}", rate, now)
    if not usage.allowed:
        wait = in_words((usage.resets_at - now).total_seconds())
        if action == "signin":
            message = _("Too many sign-in attempts from your network. Try again in %(wait)s.")
        elif action == "submit":
            message = _("Too many images requested from your network. Try again in %(wait)s.")
        else:
            message = _("Too many requests from your network. Try again in %(wait)s.")
        raise RateLimited(message % {"wait": wait}, usage.resets_at)
