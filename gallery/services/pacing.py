"""Pacing calls to the endpoint, so that all workers together stay inside its rate limit.

One row per endpoint (EndpointPace) holds the next free slot, in microseconds since the
epoch. A worker takes the slot with a compare-and-set: a conditional UPDATE on the value it
read, which only one of several racing workers can win; the others read again. That works
the same on SQLite and PostgreSQL, across processes and machines, and holds no lock while
anyone waits. Slots are spaced evenly (no bursts), 60 / rate seconds apart.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from urllib.parse import urlsplit

from django.conf import settings

from gallery.models import EndpointPace
from gallery.services import endpoint

# The clock pacers read unless given one; tests replace it.
_clock: Callable[[], float] = time.time

# The hosted endpoint's own limits (per IP without a token, per project with one).
HOSTED_ANONYMOUS_RATE = 2.0
HOSTED_TOKEN_RATE = 400.0


def rate_per_minute(config: endpoint.EndpointConfig) -> float:
    """Calls per minute allowed to this endpoint; 0 means unlimited.

    GALLERY_ENDPOINT_RATE_PER_MINUTE wins when set. Otherwise: the bundled stand-in has no
    limit; with a token, the hosted limit of 400/min; without one, 2/min on the hosted
    endpoint (either API) and no limit on any other server (a self-hosted one has its own rules)."""
    configured = str(settings.GALLERY_ENDPOINT_RATE_PER_MINUTE).strip()
    if configured:
        return max(0.0, float(configured))
    if settings.GALLERY_STANDIN:
        return 0.0
    if config.token:
        return HOSTED_TOKEN_RATE
    hosted = {urlsplit(url).hostname for url in (settings.OVH_SDXL_URL, settings.OVH_OPENAI_URL)}
    if urlsplit(config.url).hostname in hosted:
        return HOSTED_ANONYMOUS_RATE
    return 0.0


class Pacer:
    """Hands out call slots for one endpoint. Instances share nothing but the database row,
    so any number of them, in any number of processes, pace together."""

    def __init__(
        self, key: str, per_minute: float, *, now: Callable[[], float] | None = None
    ) -> None:
        self.key = hashlib.sha256(key.encode()).hexdigest()
        self.per_minute = per_minute
        self.now = now or _clock

    @classmethod
    def for_endpoint(cls, config: endpoint.EndpointConfig, **kwargs) -> Pacer:
        return cls(config.url, rate_per_minute(config), **kwargs)

    def reserve(self) -> float:
        """Take the next free slot. Returns the seconds to wait before calling (0: now)."""
        if self.per_minute <= 0:
            return 0.0
        interval = round(60_000_000 / self.per_minute)
        EndpointPace.objects.get_or_create(key=self.key)
        row = EndpointPace.objects.filter(key=self.key)
        while True:
            now = int(self.now() * 1_000_000)
            current = row.values_list("next_slot_us", flat=True).get()
            # A slot in the past is not saved up: an idle endpoint does not allow a burst.
            slot = max(now, current)
            if row.filter(next_slot_us=current).update(next_slot_us=slot + interval):
                return (slot - now) / 1_000_000
            # Another worker took this slot between our read and our write: read again.


def reserve(config: endpoint.EndpointConfig) -> float:
    """Seconds this worker must wait before calling the endpoint (see Pacer)."""
    return Pacer.for_endpoint(config).reserve()
