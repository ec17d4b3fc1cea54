"""Recovery of lost work: jobs whose worker died, and queued rows whose task was lost. The
workers run `recover_lost_work` periodically (see the gallery_worker command)."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from functools import partial

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django_tasks_db import DatabaseBackend
from django_tasks_db.models import DBTaskResult

from gallery import tasks
from gallery.models import Generation
from gallery.services import storage, worker

logger = logging.getLogger(__name__)

Status = Generation.Status


def recover_lost_work(now: datetime | None = None) -> int:
    """Re-queue work that nobody is doing: running rows whose lease ran out (their worker's
    heartbeat fell silent: it died) and queued rows without a live task (the enqueue was
    lost). Returns the count."""
    now = now or timezone.now()
    recovered = 0

    # Few rows are running at any time: the (status, id) index finds them.
    for generation in Generation.objects.filter(status=Status.RUNNING, lease_expires_at__lt=now):
        with transaction.atomic():
            # Revoke the dead claim first; only then are its files safe to remove.
            if worker.requeue(generation, now, if_lapsed=True):
                logger.warning("Generation %s: its worker died; queued again", generation.pk)
                dead_files = storage.possible_files(generation.public_id, generation.claim_token)
                transaction.on_commit(partial(storage.delete_files, dead_files), robust=True)
                transaction.on_commit(partial(tasks.enqueue, generation.pk), robust=True)
                recovered += 1

    grace = now - timedelta(seconds=settings.GALLERY_QUEUED_GRACE)
    waiting = list(
        Generation.objects.filter(status=Status.QUEUED, queued_at__lt=grace).values_list(
            "pk", "task_id"
        )
    )
    for start in range(0, len(waiting), 500):
        batch = waiting[start : start + 500]
        alive = _live_tasks([task_id for _, task_id in batch if task_id])
        for pk, task_id in batch:
            if task_id not in alive:
                logger.warning("Generation %s: queued without a live task; enqueued again", pk)
                tasks.enqueue(pk)
                recovered += 1
    return recovered


def _live_tasks(task_ids: list[str]) -> set[str]:
    """Which of these tasks are still waiting or running in the queue."""
    if not task_ids:
        return set()
    if isinstance(tasks.run_generation.get_backend(), DatabaseBackend):
        # One query for the whole batch on the default (database) queue.
        live = DBTaskResult.objects.filter(id__in=task_ids, status__in=("READY", "RUNNING"))
        return {str(pk) for pk in live.values_list("id", flat=True)}
    alive = set()
    for task_id in task_ids:
        try:
            if tasks.run_generation.get_result(task_id).status in ("READY", "RUNNING"):
                alive.add(task_id)
        except Exception:  # noqa: S112  (unknown, pruned or foreign id: not alive)
            continue
    return alive
