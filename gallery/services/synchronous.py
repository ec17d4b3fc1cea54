"""Images made while the caller waits: what the drop-in APIs (the hosted text2image
protocol, OpenAI's images API) and `generate --wait` ask for.

The work goes through the same intake as the web form (validation, blocklist, quotas,
per-address rate), is queued like any other, and is then made in the caller's thread
(`worker.generate_now`: the caller waits as long as the generation takes and no longer;
the job is queued too, so it finishes even if the caller or this process goes).
"""

from __future__ import annotations

from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from gallery.models import Generation
from gallery.services import intake, quotas, worker


def submit(
    *,
    prompt: str,
    negative_prompt: str,
    count: int,
    owner: User,
    client_ip: str | None,
) -> list[Generation]:
    """Submit `count` generations in one transaction: all are accepted, or none is and
    nothing is counted against the owner's quotas. Asking for more than may ever wait in
    the queue at once is bad input (waiting would not help)."""
    quota = quotas.quota_status(owner) if count > 1 else None
    if quota and quota.max_waiting and count > quota.max_waiting:
        most = quota.max_waiting
        message = _("At most %(most)s images can wait in the queue at once: ask for fewer.")
        raise ValidationError({"n": message % {"most": most}})
    with transaction.atomic():
        return [
            intake.submit(
                prompt=prompt, negative_prompt=negative_prompt, owner=owner, client_ip=client_ip
            )
            for _attempt in range(count)
        ]


def make(generations: list[Generation]) -> list[Generation]:
    """Make each submitted generation and return the rows as they ended. One at a time in
    this thread; the workers may take the others meanwhile (generate_now then waits)."""
    return [worker.generate_now(generation.pk) for generation in generations]
