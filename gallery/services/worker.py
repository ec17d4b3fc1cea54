"""The worker's side of the pipeline: claim a job, call the endpoint, store the image.

Our Generation row is the source of truth, not the task queue. A worker owns a job by
*claiming* it: a conditional UPDATE that hands out a token and a lease. Only the holder of the
current token can finish the job, and a lease that ran out (the worker died) lets another
worker claim it again. No transaction is ever held open across the HTTP call.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import InterfaceError, OperationalError, connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from gallery import logcontext
from gallery.models import Generation
from gallery.services import endpoint, images, pacing, storage

logger = logging.getLogger(__name__)

Status = Generation.Status


def run(
    generation_id: int,
    *,
    client: endpoint.SDXLClient | None = None,
    policy: endpoint.RetryPolicy | None = None,
    sleep: Callable[[float], None] = time.sleep,
    on_release: Callable[[int], None] | None = None,
) -> None:
    """Claim the generation, call the endpoint (retrying transient errors), store the image.

    Returns quietly when the job is not ours to run: already done, or held by a live worker.
    If the worker is stopped meanwhile, the job is handed back to the queue and
    `on_release(generation_id)` wakes another worker for it (the task wrapper passes its
    enqueue; without one, the sweep finds the queued row).
    """
    client = client or endpoint.get_client()
    policy = policy or endpoint.RetryPolicy.from_settings()
    lease = _lease_seconds(client.config)

    generation = claim(generation_id, lease_seconds=lease)
    if generation is None:
        return
    with logcontext.bound(logcontext.generation, generation.public_id):
        try:
            _attempt_until_done(generation, client, policy, sleep, lease)
        except (KeyboardInterrupt, SystemExit):
            # The worker is being stopped (Ctrl-C, SIGTERM twice): hand the job back now
            # rather than leave it to wait for its lease to run out.
            if requeue(generation, timezone.now()):
                logger.warning("Generation %s: worker stopping; job handed back", generation.pk)
                if on_release:
                    on_release(generation.pk)
            raise


def generate_now(
    generation_id: int,
    *,
    client: endpoint.SDXLClient | None = None,
    poll: float = 0.2,
    sleep: Callable[[float], None] = time.sleep,
) -> Generation:
    """Make a just-submitted generation in this thread and return it finished: the
    synchronous APIs' answer. If a worker claimed the job first, wait for that worker
    instead, so the caller waits as long as the generation takes and no longer. The job
    was also queued, so if this process dies the workers finish it.

    Returns the row as it stands; it is still unfinished only if the worker holding it
    outlived its lease (then the sweep takes over)."""
    client = client or endpoint.get_client()
    run(generation_id, client=client, sleep=sleep)
    return wait_for(generation_id, timeout=_lease_seconds(client.config), poll=poll, sleep=sleep)


def wait_for(
    generation_id: int,
    *,
    timeout: float,
    poll: float = 0.2,
    sleep: Callable[[float], None] = time.sleep,
) -> Generation:
    """The row once it is finished, or as it stands after `timeout` seconds. A worker that
    waits out a rate limit or a retry extends its lease: the wait is extended with it."""
    generation = Generation.objects.get(pk=generation_id)
    deadline = time.monotonic() + timeout
    while not generation.is_finished and time.monotonic() < deadline:
        sleep(poll)
        generation.refresh_from_db()
        if generation.status == Status.RUNNING and generation.lease_expires_at:
            remaining = (generation.lease_expires_at - timezone.now()).total_seconds()
            deadline = max(deadline, time.monotonic() + remaining)
    return generation


def _lease_seconds(config: endpoint.EndpointConfig) -> float:
    return config.connect_timeout + config.read_timeout + settings.GALLERY_LEASE_MARGIN


def _attempt_until_done(
    generation: Generation,
    client: endpoint.SDXLClient,
    policy: endpoint.RetryPolicy,
    sleep: Callable[[float], None],
    lease: float,
) -> None:
    pk, token = generation.pk, generation.claim_token
    for attempt in range(1, policy.max_attempts + 1):
        # Wait for a slot under the endpoint's rate limit, shared by every worker.
        if not _wait_for_slot(pk, token, client.config, lease, sleep):
            logger.warning("Generation %s: lost its claim; another worker has it", pk)
            return
        if not _start_attempt(pk, token, lease):
            logger.warning("Generation %s: lost its claim; another worker has it", pk)
            return
        try:
            image = client.text2image(generation.prompt, generation.negative_prompt)
        except endpoint.EndpointError as err:
            if err.transient and attempt < policy.max_attempts:
                delay = policy.delay(attempt, err)
                note = (
                    f"{err.reason} Trying again in {delay:.0f} s "
                    f"(attempt {attempt + 1} of {policy.max_attempts})."
                )
                logger.info("Generation %s: %s (%s)", pk, note, err.detail)
                if not _hold(pk, token, delay + lease, note):
                    return
                sleep(delay)
                continue
            reason = err.reason
            if err.transient:
                reason += f" Gave up after {attempt} attempts; you can retry later."
            _fail(pk, token, reason, err.detail, code=err.code)
            return
        try:
            _store(generation, token, image, client.config, sleep)
        except (OperationalError, InterfaceError):
            # The database stayed away while the result was being committed: whether it
            # landed is unknown, so nothing is failed or deleted here. If it did not, the
            # sweep re-queues the job once the lease runs out and removes this claim's files.
            logger.exception("Generation %s: the database went away while storing", pk)
        except Exception as exc:
            # Disk full, storage down...: say so now rather than leave the row to its lease.
            logger.exception("Generation %s: could not store the image", pk)
            _fail(
                pk,
                token,
                "The image could not be saved on this server.",
                repr(exc),
                code="storage_error",
            )
        return


def claim(generation_id: int, *, lease_seconds: float) -> Generation | None:
    """Take the job if it is queued, or running under a lease that ran out. Atomic on every
    database: of two workers racing, exactly one UPDATE matches."""
    now = timezone.now()
    token = secrets.token_hex(16)
    claimed = (
        Generation.objects.filter(pk=generation_id)
        .filter(Q(status=Status.QUEUED) | Q(status=Status.RUNNING, lease_expires_at__lt=now))
        .update(
            status=Status.RUNNING,
            claim_token=token,
            lease_expires_at=now + timedelta(seconds=lease_seconds),
            claims=F("claims") + 1,
            started_at=now,
        )
    )
    if not claimed:
        return None
    generation = Generation.objects.get(pk=generation_id)
    if generation.claims > settings.GALLERY_MAX_CLAIMS:
        _fail(
            generation_id,
            token,
            "The worker stopped unexpectedly while making this image, several times.",
            f"claimed {generation.claims} times without finishing",
            code="worker_lost",
        )
        return None
    return generation


def _start_attempt(generation_id: int, token: str, lease: float) -> bool:
    return bool(
        Generation.objects.filter(pk=generation_id, claim_token=token).update(
            attempts=F("attempts") + 1,
            lease_expires_at=timezone.now() + timedelta(seconds=lease),
            status_note="",
        )
    )


def _wait_for_slot(
    generation_id: int,
    token: str,
    config: endpoint.EndpointConfig,
    lease: float,
    sleep: Callable[[float], None],
) -> bool:
    """Sleep until this worker's turn to call the endpoint, keeping the claim's lease alive
    and telling the user why it waits. False if the claim was lost meanwhile."""
    wait = pacing.reserve(config)
    if wait <= 0:
        return True
    note = f"Waiting for the endpoint's rate limit, starting in {wait:.0f} s."
    logger.info("Generation %s: %s", generation_id, note)
    if not _hold(generation_id, token, wait + lease, note):
        return False
    sleep(wait)
    return True


def _hold(generation_id: int, token: str, seconds: float, note: str) -> bool:
    return bool(
        Generation.objects.filter(pk=generation_id, claim_token=token).update(
            lease_expires_at=timezone.now() + timedelta(seconds=seconds), status_note=note
        )
    )


def _fail(generation_id: int, token: str, reason: str, detail: str, *, code: str) -> None:
    logger.warning("Generation %s failed: %s (%s)", generation_id, reason, detail)
    Generation.objects.filter(pk=generation_id, claim_token=token).update(
        status=Status.FAILED,
        failure_reason=reason[:300],
        failure_detail=detail,
        failure_code=code,
        status_note="",
        claim_token="",
        lease_expires_at=None,
        finished_at=timezone.now(),
    )


def requeue(generation: Generation, now: datetime) -> bool:
    """Revoke the generation's current claim and mark it queued again. From then on the
    claim's holder can no longer commit a result."""
    return bool(
        Generation.objects.filter(
            pk=generation.pk, claim_token=generation.claim_token, status=Status.RUNNING
        ).update(
            status=Status.QUEUED,
            claim_token="",
            lease_expires_at=None,
            status_note="",
            queued_at=now,
        )
    )


def _store(
    generation: Generation,
    token: str,
    image: images.VerifiedImage,
    config: endpoint.EndpointConfig,
    sleep: Callable[[float], None] = time.sleep,
) -> None:
    """Write the files, then commit the row; if the row does not commit, remove the files."""
    with _IMAGE_WORK:
        thumbs = images.make_thumbnails(image)
        preview = images.make_preview(image)
        color = images.average_color(image)
    names = storage.file_names(generation.public_id, token, image.extension)
    written: list[str] = []
    try:
        written.append(default_storage.save(names.original, ContentFile(image.data)))
        for thumb, name in zip(thumbs, names.thumbnails, strict=True):
            written.append(default_storage.save(name, ContentFile(thumb.data)))
        written.append(default_storage.save(names.preview, ContentFile(preview)))
        result = dict(
            status=Status.SUCCEEDED,
            original=written[0],
            thumbnail=written[1],
            thumbnail_2x=written[2],
            preview_image=written[3],
            width=image.width,
            height=image.height,
            format=image.format,
            byte_size=len(image.data),
            sha256=image.sha256,
            placeholder_color=color,
            endpoint_label=config.label,
            endpoint_url=config.public_url,
            status_note="",
            claim_token="",
            lease_expires_at=None,
            finished_at=timezone.now(),
        )
        if not _commit_result(generation.pk, token, result, sleep):
            raise _LostClaim
    except _LostClaim:
        logger.warning("Generation %s: claim lost before storing; files discarded", generation.pk)
        storage.delete_files(written)
    except (OperationalError, InterfaceError):
        raise  # the row may have committed: its files must stay (see _attempt_until_done)
    except BaseException:
        storage.delete_files(written)
        raise


# One image's derivatives at a time per process. A worker process has one job at a time
# anyway; in a web process, fifty synchronous API calls finishing together would otherwise
# take every core from the pages being served beside them.
_IMAGE_WORK = threading.Lock()


class _LostClaim(Exception):
    pass


# Waits between tries to commit a result while the database is away (a restart, a failover).
COMMIT_RETRY_DELAYS = (0.5, 1.0, 2.0, 4.0, 8.0, 15.0)


def _commit_result(
    generation_id: int, token: str, result: dict, sleep: Callable[[float], None]
) -> bool:
    """Mark the generation done with `result`; False if the claim was lost. Rides out the
    database going away for about half a minute by reconnecting and trying again. A commit
    whose acknowledgement was lost has cleared the claim token, so before each new try the
    row is read back: if it already holds our files, it is done."""
    waits = iter(COMMIT_RETRY_DELAYS)
    retrying = False
    while True:
        try:
            mine = Generation.objects.filter(pk=generation_id)
            if retrying and mine.filter(original=result["original"]).exists():
                return True
            with transaction.atomic():
                return bool(mine.filter(claim_token=token, status=Status.RUNNING).update(**result))
        except (OperationalError, InterfaceError):
            wait = next(waits, None)
            if wait is None:
                raise
            logger.warning("Generation %s: database unavailable; retrying", generation_id)
            if not connection.in_atomic_block:
                connection.close()  # the next query opens a new connection
            retrying = True
            sleep(wait)
