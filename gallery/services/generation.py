"""The generation pipeline: submit, run, retry, delete, and recovery of lost work.

Our Generation row is the source of truth, not the task queue. A worker owns a job by
*claiming* it: a conditional UPDATE that hands out a token and a lease. Only the holder of the
current token can finish the job, and a lease that ran out (the worker died) lets another
worker claim it again. No transaction is ever held open across the HTTP call.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import InterfaceError, OperationalError, connection, transaction
from django.db.models import F, Q, QuerySet
from django.utils import timezone
from django_tasks_db import DatabaseBackend
from django_tasks_db.models import DBTaskResult

from accounts import limits
from gallery import logcontext
from gallery.models import Generation, Preferences, SiteSettings
from gallery.services import blocklist, endpoint, images, pacing

logger = logging.getLogger(__name__)

Status = Generation.Status


# --- Submit ---------------------------------------------------------------------------------


def submit(
    *,
    prompt: str,
    negative_prompt: str = "",
    owner: User | None = None,
    visibility: str = "",
    source: Generation | None = None,
    client_ip: str | None = None,
) -> Generation:
    """Record a new generation and queue it. The task is enqueued only once the row is
    committed; if that enqueue is lost, the worker's sweep finds the row and enqueues it.

    `visibility` blank means the owner's default, else the site's. Under pre-moderation a
    public image waits for staff approval (private images and staff's own do not).

    The owner's quotas and the per-address rate (`client_ip`, when the request came from
    the web) are checked and counted in the same transaction as the row is created: a
    refused submission raises ValidationError and counts nothing."""
    prompt = (prompt or "").strip()
    negative_prompt = (negative_prompt or "").strip()
    prompt_max = settings.GALLERY_PROMPT_MAX_LENGTH
    negative_max = settings.GALLERY_NEGATIVE_PROMPT_MAX_LENGTH
    errors = {}
    if not prompt:
        errors["prompt"] = "Describe the image you want."
    elif len(prompt) > prompt_max:
        errors["prompt"] = f"Keep the prompt to {prompt_max} characters (it has {len(prompt)})."
    if len(negative_prompt) > negative_max:
        errors["negative_prompt"] = (
            f"Keep the negative prompt to {negative_max} characters "
            f"(it has {len(negative_prompt)})."
        )
    for name, text in (("prompt", prompt), ("negative_prompt", negative_prompt)):
        # The APIs take any JSON string: a NUL or a lone surrogate ("\ud800") is text no
        # database column can hold (PostgreSQL refuses it), so refuse it here, as a 400.
        if name not in errors and not _storable(text):
            errors[name] = "Remove the control characters from the text."
    if errors:
        raise ValidationError(errors)
    # Before anything is written or spent: a refused prompt leaves only its attempt log.
    blocklist.check(prompt, negative_prompt, user=owner)

    site = SiteSettings.load()
    if not visibility:
        preferences = Preferences.for_user(owner) if owner else None
        visibility = (preferences and preferences.default_visibility) or site.default_visibility
    # Pre-moderation holds what others would see; a private image has no audience to protect.
    moderation = Generation.Moderation.VISIBLE
    if (
        site.moderation_mode == SiteSettings.ModerationMode.PRE
        and visibility == Generation.Visibility.PUBLIC
        and not (owner and owner.is_staff)
    ):
        moderation = Generation.Moderation.PENDING

    with transaction.atomic():
        limits.charge_submission(owner, client_ip)
        generation = Generation.objects.create(
            prompt=prompt,
            negative_prompt=negative_prompt,
            owner=owner,
            visibility=visibility,
            moderation=moderation,
            source=source,
            queued_at=timezone.now(),
        )
        transaction.on_commit(partial(_enqueue, generation.pk), robust=True)
    return generation


def _storable(text: str) -> bool:
    if "\x00" in text:
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def retry(generation: Generation) -> Generation:
    """Send a failed generation through the pipeline again, under the same id."""
    if generation.status != Status.FAILED:
        raise ValidationError("Only a failed generation can be retried.")
    with transaction.atomic():
        updated = Generation.objects.filter(pk=generation.pk, status=Status.FAILED).update(
            status=Status.QUEUED,
            failure_reason="",
            failure_detail="",
            failure_code="",
            status_note="",
            attempts=0,
            claims=0,
            started_at=None,
            finished_at=None,
            queued_at=timezone.now(),
        )
        if updated:
            transaction.on_commit(partial(_enqueue, generation.pk), robust=True)
    generation.refresh_from_db()
    return generation


def delete(generation: Generation) -> None:
    """Delete the row, then its files once the deletion has committed."""
    names = [f.name for f in generation.file_fields()]
    with transaction.atomic():
        generation.delete()
        transaction.on_commit(partial(delete_files, names), robust=True)


def delete_many(generations: QuerySet[Generation]) -> int:
    """Delete these rows, then their files once the deletion has committed. Returns the
    number of generations deleted."""
    with transaction.atomic():
        rows = list(generations.only("pk", *Generation.FILE_FIELDS))
        names = [f.name for row in rows for f in row.file_fields()]
        Generation.objects.filter(pk__in=[row.pk for row in rows]).delete()
        transaction.on_commit(partial(delete_files, names), robust=True)
    return len(rows)


def _enqueue(generation_id: int) -> None:
    from gallery.tasks import run_generation  # tasks import this module

    result = run_generation.enqueue(generation_id)
    Generation.objects.filter(pk=generation_id).update(task_id=str(result.id))


# --- Run ------------------------------------------------------------------------------------


def run(
    generation_id: int,
    *,
    client: endpoint.SDXLClient | None = None,
    policy: endpoint.RetryPolicy | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> None:
    """Claim the generation, call the endpoint (retrying transient errors), store the image.

    Returns quietly when the job is not ours to run: already done, or held by a live worker.
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
            _release(generation)
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


def _release(generation: Generation) -> None:
    """Give a claimed job back to the queue, with a fresh task, as if never started."""
    if _requeue(generation, timezone.now()):
        logger.warning("Generation %s: worker stopping; job handed back", generation.pk)
        _enqueue(generation.pk)


def _requeue(generation: Generation, now: datetime) -> bool:
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
    thumbs = images.make_thumbnails(image)
    preview = images.make_preview(image)
    color = images.average_color(image)
    names = file_names(generation.public_id, token, image.extension)
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
        delete_files(written)
    except (OperationalError, InterfaceError):
        raise  # the row may have committed: its files must stay (see _attempt_until_done)
    except BaseException:
        delete_files(written)
        raise


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


@dataclass(frozen=True)
class FileNames:
    original: str
    thumbnails: tuple[str, ...]
    preview: str


def file_names(public_id: str, token: str, extension: str) -> FileNames:
    """Where one claim's files go. Derived from the claim token, so the files of a worker
    that died can be found and removed, and two claims never write the same name."""
    stem = f"{public_id[:2]}/{public_id}-{token[:10]}"
    return FileNames(
        original=f"originals/{stem}.{extension}",
        thumbnails=tuple(f"thumbnails/{stem}-{size}.webp" for size in images.THUMBNAIL_SIZES),
        preview=f"previews/{stem}-{images.PREVIEW_SIZE}.webp",
    )


# --- Thumbnails and previews made again --------------------------------------------------

# The files made from the original, which `rebuild_derived` can make again.
DERIVED_FIELDS = ("thumbnail", "thumbnail_2x", "preview_image")


def rebuild_derived(
    generation: Generation,
    *,
    only_missing: bool = False,
    fields: tuple[str, ...] = DERIVED_FIELDS,
) -> list[str]:
    """Make the row's thumbnails and preview again from its original. With `only_missing`,
    only those with no name or no file in storage. Returns the fields replaced.

    New files get new names (a file's URL is cached as immutable, so its bytes never
    change). The row is updated only if it still has this original and these old files
    when it commits; the old files are deleted after that commit, the new ones if it lost."""
    if not generation.has_image or not generation.original:
        return []
    if only_missing:
        fields = tuple(f for f in fields if not _stored(getattr(generation, f).name))
    if not fields:
        return []
    original = generation.original.name
    with default_storage.open(original, "rb") as handle:
        image = images.verify(handle.read(), max_pixels=settings.GALLERY_MAX_IMAGE_PIXELS)
    stem = f"{original.split('/', 1)[-1].rsplit('.', 1)[0]}-{secrets.token_hex(3)}"
    made: dict[str, tuple[str, bytes]] = {}
    if {"thumbnail", "thumbnail_2x"} & set(fields):
        small, large = images.make_thumbnails(image)
        made["thumbnail"] = (f"thumbnails/{stem}-{small.size}.webp", small.data)
        made["thumbnail_2x"] = (f"thumbnails/{stem}-{large.size}.webp", large.data)
    if "preview_image" in fields:
        preview = images.make_preview(image)
        made["preview_image"] = (f"previews/{stem}-{images.PREVIEW_SIZE}.webp", preview)
    written: list[str] = []
    try:
        new = {}
        for name in fields:
            wanted, data = made[name]
            new[name] = default_storage.save(wanted, ContentFile(data))
            written.append(new[name])
        old = {name: getattr(generation, name).name or "" for name in fields}
        with transaction.atomic():
            updated = Generation.objects.filter(pk=generation.pk, original=original, **old).update(
                **new
            )
            if updated:
                replaced = [n for n in old.values() if n]
                transaction.on_commit(partial(delete_files, replaced), robust=True)
    except BaseException:
        delete_files(written)
        raise
    if not updated:
        delete_files(written)
        return []
    for name, stored in new.items():
        setattr(generation, name, stored)
    return list(fields)


def _stored(name: str) -> bool:
    return bool(name) and default_storage.exists(name)


def backfill_preview(generation: Generation) -> bool:
    """Make the detail preview of a row stored before previews existed (or whose preview
    file is gone). Returns whether a preview was added."""
    return bool(rebuild_derived(generation, only_missing=True, fields=("preview_image",)))


@dataclass
class RebuildResult:
    rebuilt: int = 0
    unchanged: int = 0
    failed: list[str] = field(default_factory=list)


def rebuild_many(
    *,
    only_missing: bool = False,
    public_ids: list[str] | None = None,
    fields: tuple[str, ...] = DERIVED_FIELDS,
    batch_size: int = 200,
    progress: Callable[[int, str], Any] | None = None,
) -> RebuildResult:
    """`rebuild_derived` over every row with an image (or those of `public_ids`), in keyset
    batches of the table. A row whose original cannot be read is reported and skipped.
    `progress(total, description)` makes a progress bar (update(n), close())."""
    rows = Generation.objects.with_image().exclude(original="")
    result = RebuildResult()
    if public_ids is not None:
        rows = rows.filter(public_id__in=public_ids)
        found = set(rows.values_list("public_id", flat=True))
        result.failed += [f"{p}: no such generation with an image" for p in public_ids
                          if p not in found]  # fmt: skip
    bar = progress(rows.count(), "Rebuilding") if progress else None
    last = 0
    try:
        while batch := list(rows.filter(pk__gt=last).order_by("pk")[:batch_size]):
            for item in batch:
                try:
                    done = rebuild_derived(item, only_missing=only_missing, fields=fields)
                except (OSError, images.InvalidImageError) as exc:
                    result.failed.append(f"{item.public_id}: {exc}")
                else:
                    if done:
                        result.rebuilt += 1
                    else:
                        result.unchanged += 1
                if bar:
                    bar.update(1)
            last = batch[-1].pk
    finally:
        if bar:
            bar.close()
    return result


def delete_files(names: list[str]) -> None:
    """Remove these files from storage; a failure is logged, never raised (the row that
    named them is already gone or was never written)."""
    for name in names:
        try:
            default_storage.delete(name)
        except OSError:
            logger.exception("Could not delete %s", name)


# --- Recovery -------------------------------------------------------------------------------


def recover_lost_work(now: datetime | None = None) -> int:
    """Re-queue work that nobody is doing: running rows whose lease ran out (their worker
    died) and queued rows without a live task (the enqueue was lost). Returns the count."""
    now = now or timezone.now()
    recovered = 0

    for generation in Generation.objects.filter(status=Status.RUNNING, lease_expires_at__lt=now):
        with transaction.atomic():
            # Revoke the dead claim first; only then are its files safe to remove.
            if _requeue(generation, now):
                logger.warning("Generation %s: its worker died; queued again", generation.pk)
                dead_files = _possible_files(generation.public_id, generation.claim_token)
                transaction.on_commit(partial(delete_files, dead_files), robust=True)
                transaction.on_commit(partial(_enqueue, generation.pk), robust=True)
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
                _enqueue(pk)
                recovered += 1
    return recovered


def _possible_files(public_id: str, token: str) -> list[str]:
    """Every name one claim's files can have, whatever the original's format."""
    names = [file_names(public_id, token, ext) for ext in images.EXTENSIONS.values()]
    return sorted({name for n in names for name in (n.original, *n.thumbnails, n.preview)})


def _live_tasks(task_ids: list[str]) -> set[str]:
    """Which of these tasks are still waiting or running in the queue."""
    from gallery.tasks import run_generation

    if not task_ids:
        return set()
    if isinstance(run_generation.get_backend(), DatabaseBackend):
        # One query for the whole batch on the default (database) queue.
        live = DBTaskResult.objects.filter(id__in=task_ids, status__in=("READY", "RUNNING"))
        return {str(pk) for pk in live.values_list("id", flat=True)}
    alive = set()
    for task_id in task_ids:
        try:
            if run_generation.get_result(task_id).status in ("READY", "RUNNING"):
                alive.add(task_id)
        except Exception:  # noqa: S112  (unknown, pruned or foreign id: not alive)
            continue
    return alive
