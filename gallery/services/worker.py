"""The worker's side of the pipeline: claim a job, call the endpoint, store the image.

Our Generation row is the source of truth, not the task queue. A worker owns a job by
*claiming* it: a conditional UPDATE that hands out a token and a lease. Only the holder of the
current token can finish the job. While the worker works, a heartbeat thread keeps moving the
lease to GALLERY_CLAIM_SILENCE seconds ahead; a lease that ran out means the worker fell
silent (it died, or hung past its step's time budget), and lets another worker claim the job
again. No transaction is ever held open across the HTTP call.
"""

from __future__ import annotations

import contextvars
import logging
import secrets
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from functools import partial

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import InterfaceError, OperationalError, connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from gallery import logcontext
from gallery.models import Generation
from gallery.services import (
    dashboard,
    endpoint,
    failures,
    images,
    moderation,
    pacing,
    page_cache,
    queue,
    scan,
    similarity,
    storage,
)

logger = logging.getLogger(__name__)

Status = Generation.Status


def run(
    generation_id: int,
    *,
    client: endpoint.SDXLClient | None = None,
    policy: endpoint.RetryPolicy | None = None,
    sleep: Callable[[float], None] = time.sleep,
    on_release: Callable[[int], None] | None = None,
    fair: bool = False,
) -> None:
    """Claim the generation, call the endpoint (retrying transient errors), store the image.

    With `fair` (a worker woken by a task), the job run is the one whose turn it is (see
    `queue.fair_order`), and `generation_id` only if no job waits (its claim lapsed).
    Returns quietly when the job is not ours to run: already done, or held by a live worker.
    If the worker is stopped meanwhile, the job is handed back to the queue and
    `on_release(generation_id)` wakes another worker for it (the task wrapper passes its
    enqueue; without one, the sweep finds the queued row).
    """
    client = client or endpoint.get_client()
    policy = policy or endpoint.RetryPolicy.from_settings()

    generation = (claim_next() if fair else None) or claim(generation_id)
    if generation is None:
        return
    heartbeat = Heartbeat(generation.pk, generation.claim_token)
    with logcontext.bound(logcontext.generation, generation.public_id):
        heartbeat.start()
        try:
            _attempt_until_done(generation, client, policy, sleep, heartbeat)
        except (KeyboardInterrupt, SystemExit):
            # The worker is being stopped (Ctrl-C, SIGTERM twice): hand the job back now
            # rather than leave it to wait for its lease to run out.
            if requeue(generation, timezone.now()):
                logger.warning("Generation %s: worker stopping; job handed back", generation.pk)
                if on_release:
                    on_release(generation.pk)
            raise
        finally:
            # Whatever happened, this run no longer vouches for the claim: a row left running
            # (an unexpected error, a commit whose outcome is unknown) lapses one silence later.
            heartbeat.stop()


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

    Returns the row as it stands; it is still unfinished only if the worker holding it fell
    silent (it died: the sweep re-queues the job and a worker makes it later)."""
    client = client or endpoint.get_client()
    run(generation_id, client=client, sleep=sleep)
    # A live worker's heartbeat keeps extending the wait; a silence ends it.
    return wait_for(generation_id, timeout=settings.GALLERY_CLAIM_SILENCE, poll=poll, sleep=sleep)


def wait_for(
    generation_id: int,
    *,
    timeout: float,
    poll: float = 0.2,
    sleep: Callable[[float], None] = time.sleep,
) -> Generation:
    """The row once it is finished, or as it stands after `timeout` seconds. While a worker
    holds the job its heartbeat keeps moving the lease, and the wait moves with it (a rate
    limit, retries, a slow endpoint); once a claim's lease has run out (its worker died, and
    the sweep re-queues the job) the wait ends at the timeout."""
    generation = Generation.objects.get(pk=generation_id)
    deadline = time.monotonic() + timeout
    while not generation.is_finished and time.monotonic() < deadline:
        sleep(poll)
        generation.refresh_from_db()
        if generation.status == Status.RUNNING and generation.lease_expires_at:
            remaining = (generation.lease_expires_at - timezone.now()).total_seconds()
            deadline = max(deadline, time.monotonic() + remaining)
    return generation


# The most a worker may take to make the derivatives, write the four files and commit,
# riding out the database for the commit's retries (COMMIT_RETRY_DELAYS, 30.5 s in all).
STORE_BUDGET = 120.0


class Heartbeat:
    """Keeps one claim alive from a daemon thread while the worker's own thread is busy (a
    rate-limit wait, the HTTP call, a back-off sleep, storing): every
    GALLERY_HEARTBEAT_INTERVAL seconds the claim's lease moves to GALLERY_CLAIM_SILENCE
    seconds ahead. A worker that dies stops beating, so its claim lapses within a silence.

    A beat is a conditional UPDATE on the claim's token and the running status: it never
    revives a claim that was revoked or finished, and the first beat that finds the claim
    gone ends the heartbeat. Each step announces its time budget (`expect`); a worker stuck
    a whole silence past it (a hung storage call, a lock that never comes) is as good as
    dead, so the heartbeat stops there and the claim lapses one silence later."""

    def __init__(self, generation_id: int, token: str) -> None:
        self.generation_id = generation_id
        self.token = token
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self.expect(0)  # the bookkeeping before the first step

    def start(self) -> None:
        if connection.in_atomic_block:
            # The claim is not committed: no other connection can see it (nor take it) until
            # the caller commits, and a beat from another connection would only wait on
            # this transaction's lock.
            return
        # The thread keeps this one's log context (the generation's id on every line).
        context = contextvars.copy_context()
        self._thread = threading.Thread(
            target=context.run,
            args=(self._beat_until_stopped,),
            name=f"gallery-heartbeat-{self.generation_id}",
            daemon=True,
        )
        self._thread.start()

    def expect(self, seconds: float) -> None:
        """The worker's next step takes at most `seconds`: beat until then, plus a silence
        for the queries around it, and no longer."""
        self._until = time.monotonic() + max(0.0, seconds) + settings.GALLERY_CLAIM_SILENCE

    def stop(self) -> None:
        self._stopping.set()
        if self._thread is not None:
            # A beat stuck on a lock finishes by itself (and closes its connection); the
            # worker need not wait for it: a late beat matches no finished or revoked claim,
            # and at worst delays the lapse of a claim left running by one silence.
            self._thread.join(timeout=5)

    def _beat_until_stopped(self) -> None:
        pk = self.generation_id
        interval = settings.GALLERY_HEARTBEAT_INTERVAL
        try:
            while not self._stopping.wait(interval):
                if time.monotonic() > self._until:
                    logger.warning(
                        "Generation %s: the worker is stuck, a silence past its step's "
                        "time budget; its claim is left to lapse",
                        pk,
                    )
                    return
                try:
                    if not extend_lease(pk, self.token):
                        logger.info("Generation %s: the claim is gone; heartbeat stops", pk)
                        return
                except Exception:
                    # A locked SQLite, a restarting server...: try again at the next beat,
                    # on a fresh connection. Two beats fall within every silence.
                    logger.warning(
                        "Generation %s: heartbeat failed; trying again in %s s",
                        pk,
                        interval,
                        exc_info=True,
                    )
                    connection.close()
        finally:
            connection.close()  # this thread's own connection


def extend_lease(generation_id: int, token: str) -> bool:
    """One heartbeat: move the claim's lease a silence ahead, if the claim is still live.
    False if it is gone (revoked by the sweep or a hand-back, or finished)."""
    return bool(
        Generation.objects.filter(
            pk=generation_id, claim_token=token, status=Status.RUNNING
        ).update(lease_expires_at=_fresh_lease())
    )


def _attempt_until_done(
    generation: Generation,
    client: endpoint.SDXLClient,
    policy: endpoint.RetryPolicy,
    sleep: Callable[[float], None],
    heartbeat: Heartbeat,
) -> None:
    pk, token = generation.pk, generation.claim_token
    config = client.config
    for attempt in range(1, policy.max_attempts + 1):
        # Wait for a slot under the endpoint's rate limit, shared by every worker.
        if not _wait_for_slot(pk, token, config, heartbeat, sleep):
            logger.warning("Generation %s: lost its claim; another worker has it", pk)
            return
        if not _start_attempt(pk, token):
            logger.warning("Generation %s: lost its claim; another worker has it", pk)
            return
        # The client gives up by itself after connect + read timeout (a total deadline).
        heartbeat.expect(config.connect_timeout + config.read_timeout)
        called = time.monotonic()
        try:
            image = client.text2image(generation.prompt, generation.negative_prompt)
        except endpoint.EndpointError as err:
            _count_call(config, err.code, time.monotonic() - called)
            if err.transient and attempt < policy.max_attempts:
                delay = policy.delay(attempt, err)
                note = failures.retrying_note(err.code, delay, attempt + 1, policy.max_attempts)
                logger.info("Generation %s: %s (%s; %s)", pk, note, err.reason, err.detail)
                if not _tell(pk, token, note):
                    return
                heartbeat.expect(delay)
                sleep(delay)
                continue
            reason = err.reason
            if err.transient:
                reason += f" Gave up after {attempt} attempts; you can retry later."
            _fail(pk, token, reason, err.detail, code=err.code)
            return
        _count_call(config, "ok", time.monotonic() - called)
        heartbeat.expect(STORE_BUDGET)
        try:
            _store(generation, token, image, config, sleep)
        except (OperationalError, InterfaceError):
            # The database stayed away while the result was being committed: whether it
            # landed is unknown, so nothing is failed or deleted here. If it did not, the
            # heartbeat stops with the run, the lease runs out and the sweep re-queues the
            # job and removes this claim's files.
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


def _count_call(config: endpoint.EndpointConfig, outcome: str, seconds: float) -> None:
    """The dashboard's and /metrics' counters; never a reason for a job to fail."""
    try:
        dashboard.record_call(config.label, outcome, seconds)
    except Exception:
        logger.exception("Could not count a call to the endpoint")


def claim(generation_id: int, *, lease_seconds: float | None = None) -> Generation | None:
    """Take the job if it is queued, or running under a lease that ran out. Atomic on every
    database: of two workers racing, exactly one UPDATE matches. The lease is one claim
    silence unless given (the caller's heartbeat then keeps it alive)."""
    if lease_seconds is None:
        lease_seconds = settings.GALLERY_CLAIM_SILENCE
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


def claim_next(*, tries: int = 5) -> Generation | None:
    """Claim the job whose turn it is, fairly between owners (`queue.fair_order`). Another
    worker may take the same job first: then the next in turn is tried."""
    for _ in range(tries):
        order = queue.fair_order()
        if not order:
            return None
        for pk in order[:3]:
            generation = claim(pk)
            if generation is not None:
                return generation
    return None


def _start_attempt(generation_id: int, token: str) -> bool:
    return bool(
        Generation.objects.filter(pk=generation_id, claim_token=token).update(
            attempts=F("attempts") + 1,
            lease_expires_at=_fresh_lease(),
            status_note="",
        )
    )


def _fresh_lease() -> datetime:
    return timezone.now() + timedelta(seconds=settings.GALLERY_CLAIM_SILENCE)


def _wait_for_slot(
    generation_id: int,
    token: str,
    config: endpoint.EndpointConfig,
    heartbeat: Heartbeat,
    sleep: Callable[[float], None],
) -> bool:
    """Sleep until this worker's turn to call the endpoint (the heartbeat keeps the claim
    alive), telling the user why it waits. False if the claim was lost meanwhile."""
    wait = pacing.reserve(config)
    if wait <= 0:
        return True
    note = f"Waiting for the endpoint's rate limit, starting in {wait:.0f} s."
    logger.info("Generation %s: %s", generation_id, note)
    if not _tell(generation_id, token, note):
        return False
    heartbeat.expect(wait)
    sleep(wait)
    return True


def _tell(generation_id: int, token: str, note: str) -> bool:
    """Show the user why the job waits; False if the claim is no longer ours."""
    return bool(
        Generation.objects.filter(pk=generation_id, claim_token=token).update(status_note=note)
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


def requeue(generation: Generation, now: datetime, *, if_lapsed: bool = False) -> bool:
    """Revoke the generation's current claim and mark it queued again. From then on the
    claim's holder can no longer commit a result. With `if_lapsed`, only while the claim's
    lease is still over at `now` (a heartbeat that landed since the sweep looked wins)."""
    mine = Generation.objects.filter(
        pk=generation.pk, claim_token=generation.claim_token, status=Status.RUNNING
    )
    if if_lapsed:
        mine = mine.filter(lease_expires_at__lt=now)
    return bool(
        mine.update(
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
        phash = similarity.dhash(image.pixels)
        scanned = scan.scan(image.pixels)
    # Decided before the commit and applied in it: a held image is never public first.
    hold = moderation.ingest_hold(phash, scanned)
    names = storage.file_names(generation.public_id, token, image.extension)
    written: list[str] = []
    try:
        written.append(default_storage.save(names.original, ContentFile(image.data)))
        for thumb, name in zip(thumbs, names.thumbnails, strict=True):
            written.append(default_storage.save(name, ContentFile(thumb.data)))
        written.append(default_storage.save(names.preview, ContentFile(preview)))
        result: dict[str, object] = dict(
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
            **similarity.fields_for(phash),
        )
        if scanned is not None:
            result.update(scan_scores=scanned.scores, scan_risk=scanned.risk)
        then = partial(moderation.apply_ingest_hold, generation.pk, hold) if hold else None
        if not _commit_result(generation.pk, token, result, sleep, then=then):
            raise _LostClaim
    except _LostClaim:
        logger.warning("Generation %s: claim lost before storing; files discarded", generation.pk)
        storage.delete_files(written)
    except (OperationalError, InterfaceError):
        raise  # the row may have committed: its files must stay (see _attempt_until_done)
    except BaseException:
        # Every name this claim can have, not just `written`: a write that failed part-way
        # (a full disk) has left a file whose name the storage never returned.
        storage.delete_files(storage.possible_files(generation.public_id, token))
        raise
    else:
        # Outside the handlers above: the row has committed, its files must stay whatever
        # happens here. A public image may have landed on the signed-out grid.
        page_cache.content_changed()


# One image's derivatives at a time per process. A worker process has one job at a time
# anyway; in a web process, fifty synchronous API calls finishing together would otherwise
# take every core from the pages being served beside them.
_IMAGE_WORK = threading.Lock()


class _LostClaim(Exception):
    pass


# Waits between tries to commit a result while the database is away (a restart, a failover).
COMMIT_RETRY_DELAYS = (0.5, 1.0, 2.0, 4.0, 8.0, 15.0)


def _commit_result(
    generation_id: int,
    token: str,
    result: dict,
    sleep: Callable[[float], None],
    *,
    then: Callable[[], None] | None = None,
) -> bool:
    """Mark the generation done with `result`; False if the claim was lost. Rides out the
    database going away for about half a minute by reconnecting and trying again. A commit
    whose acknowledgement was lost has cleared the claim token, so before each new try the
    row is read back: if it already holds our files, it is done. `then` runs in the same
    transaction once the row is updated (a system hold)."""
    waits = iter(COMMIT_RETRY_DELAYS)
    retrying = False
    while True:
        try:
            mine = Generation.objects.filter(pk=generation_id)
            if retrying and mine.filter(original=result["original"]).exists():
                return True
            with transaction.atomic():
                done = bool(mine.filter(claim_token=token, status=Status.RUNNING).update(**result))
                if done and then is not None:
                    then()
                return done
        except (OperationalError, InterfaceError):
            wait = next(waits, None)
            if wait is None:
                raise
            logger.warning("Generation %s: database unavailable; retrying", generation_id)
            if not connection.in_atomic_block:
                connection.close()  # the next query opens a new connection
            retrying = True
            sleep(wait)
