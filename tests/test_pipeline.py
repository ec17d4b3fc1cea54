"""The generation pipeline: submit -> queue -> run -> stored files, and what goes wrong."""

import hashlib
import logging
import signal
from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.core.management import call_command
from django.db import OperationalError, connection
from django.utils import timezone
from django_tasks_db.models import DBTaskResult
from PIL import Image

from gallery.models import Generation
from gallery.services import endpoint, intake, recovery, storage, worker
from gallery.standin.draw import render
from tests.conftest import stored_files

pytestmark = [pytest.mark.unit, pytest.mark.django_db]

Status = Generation.Status


class FakeSleep:
    def __init__(self):
        self.calls: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


def queued_row(prompt="a lighthouse at dusk", negative="fog") -> Generation:
    return Generation.objects.create(
        prompt=prompt, negative_prompt=negative, queued_at=timezone.now()
    )


def run(item, client, attempts=4, sleep=None):
    policy = endpoint.RetryPolicy(max_attempts=attempts, base_delay=1, max_delay=8)
    worker.run(item.pk, client=client, policy=policy, sleep=sleep or FakeSleep())
    item.refresh_from_db()
    return item


# --- submit ---------------------------------------------------------------------------------


def test_submit_trims_creates_a_queued_row_and_enqueues_after_commit(
    django_capture_on_commit_callbacks,
):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        item = intake.submit(prompt="  a red fox \n", negative_prompt="  blur ")

    item.refresh_from_db()
    assert (item.prompt, item.negative_prompt, item.status) == ("a red fox", "blur", Status.QUEUED)
    assert len(callbacks) == 1
    task = DBTaskResult.objects.get(id=item.task_id)
    assert task.args_kwargs["args"] == [item.pk]
    assert task.task_path == "gallery.tasks.run_generation"


def test_submit_does_not_enqueue_before_the_commit(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        intake.submit(prompt="a red fox")
    # The task is enqueued by the on-commit hook only: a rolled-back submit enqueues nothing.
    assert len(callbacks) == 1
    assert DBTaskResult.objects.count() == 0


@pytest.mark.parametrize(
    ("prompt", "negative", "field"),
    [
        ("", "", "prompt"),
        ("   \n ", "", "prompt"),
        ("x" * 1001, "", "prompt"),
        ("ok", "y" * 1001, "negative_prompt"),
    ],
)
def test_submit_refuses_bad_prompts_and_writes_nothing(prompt, negative, field):
    with pytest.raises(ValidationError) as caught:
        intake.submit(prompt=prompt, negative_prompt=negative)
    assert field in caught.value.message_dict
    assert Generation.objects.count() == 0


# --- run ------------------------------------------------------------------------------------


def test_run_stores_the_original_byte_exact_and_webp_thumbnails(client_for, media_root):
    item = run(queued_row(), client_for())

    assert item.status == Status.SUCCEEDED
    expected = render("a lighthouse at dusk", "fog")
    assert item.original.read() == expected
    assert item.sha256 == hashlib.sha256(expected).hexdigest()
    assert (item.width, item.height, item.format, item.byte_size) == (
        1024,
        1024,
        "JPEG",
        len(expected),
    )
    for field, size in (("thumbnail", 256), ("thumbnail_2x", 512)):
        with Image.open(getattr(item, field).path) as thumb:
            assert (thumb.format, thumb.size) == ("WEBP", (size, size))
    with Image.open(item.preview_image.path) as preview:
        assert (preview.format, preview.size) == ("WEBP", (1024, 1024))
    assert item.placeholder_color.startswith("#") and len(item.placeholder_color) == 7
    assert (item.attempts, item.claim_token, item.lease_expires_at) == (1, "", None)
    assert item.started_at <= item.finished_at
    assert item.endpoint_label == "Test stand-in"
    assert len(stored_files(media_root)) == 4  # original, 2 thumbnails, preview


def test_transient_errors_are_retried_with_backoff_then_succeed(client_for, standin, media_root):
    standin.retry_after = 3
    standin.script("503", "429-retry-after", "timeout", "ok")
    sleep = FakeSleep()

    item = run(queued_row(), client_for(), sleep=sleep)

    assert item.status == Status.SUCCEEDED
    assert item.attempts == 4
    assert len(sleep.calls) == 3
    assert sleep.calls[1] >= 3  # the endpoint's Retry-After is honoured
    assert 2 <= sleep.calls[2] <= 4  # exponential: third wait of base 1 s is 2..4 s
    assert len(stored_files(media_root)) == 4  # original, 2 thumbnails, preview


@pytest.mark.parametrize(
    ("fault", "reason", "detail", "code"),
    [
        ("429", "rate limit was reached", "HTTP 429", "endpoint_rate_limited"),
        ("429-retry-after", "rate limit was reached", "HTTP 429", "endpoint_rate_limited"),
        ("500", "failed on its side", "HTTP 500", "endpoint_server_error"),
        ("502", "failed on its side", "HTTP 502", "endpoint_server_error"),
        ("503", "failed on its side", "HTTP 503", "endpoint_server_error"),
        ("timeout", "did not answer in time", "Timeout", "endpoint_timeout"),
        ("reset", "Could not reach the endpoint", "Connection", "endpoint_unreachable"),
    ],
)
def test_retries_exhausted_fail_with_a_plain_reason_and_no_files(
    client_for, standin, media_root, fault, reason, detail, code
):
    standin.script(fault, fault, fault)

    item = run(queued_row(), client_for(), attempts=3)

    assert item.status == Status.FAILED
    assert item.attempts == 3
    assert reason in item.failure_reason
    assert "Gave up after 3 attempts" in item.failure_reason
    assert detail in item.failure_detail
    assert item.failure_code == code  # what the APIs turn into 502 or 504
    assert not item.original
    assert stored_files(media_root) == []


@pytest.mark.parametrize(
    ("fault", "reason", "code"),
    [
        ("401", "rejected the access token", "endpoint_auth"),
        ("403", "refused the access token", "endpoint_auth"),
        ("404", "does not exist", "endpoint_gone"),
        ("html", "not an image", "endpoint_invalid_image"),
        ("garbage", "not an image", "endpoint_invalid_image"),
        ("truncated", "damaged or incomplete", "endpoint_invalid_image"),
        ("oversized", "larger than this gallery accepts", "endpoint_invalid_image"),
        ("bomb", "too many pixels", "endpoint_invalid_image"),
    ],
)
def test_permanent_errors_fail_at_once_and_store_nothing(
    client_for, standin, media_root, fault, reason, code
):
    standin.script(fault, "ok")

    item = run(queued_row(), client_for(token="s3cret-token"))

    assert item.status == Status.FAILED
    assert item.attempts == 1
    assert reason in item.failure_reason
    assert item.failure_code == code
    assert "s3cret-token" not in item.failure_reason + item.failure_detail
    assert stored_files(media_root) == []


def test_the_token_never_reaches_the_logs(client_for, standin, media_root, caplog):
    caplog.set_level(logging.DEBUG)  # urllib3's and requests' own debug lines included
    standin.script("500", "401")
    item = run(queued_row(), client_for(token="s3cret-token"))
    assert item.status == Status.FAILED
    assert "HTTP 500" in caplog.text and "HTTP 401" in caplog.text
    assert "s3cret-token" not in caplog.text


def test_a_failed_generation_can_be_retried_and_then_succeeds(
    client_for, standin, media_root, django_capture_on_commit_callbacks
):
    standin.script("404")
    item = run(queued_row(), client_for())
    assert item.status == Status.FAILED

    with django_capture_on_commit_callbacks(execute=True):
        intake.retry(item)
    item.refresh_from_db()
    assert (item.status, item.failure_reason, item.failure_code, item.attempts) == (
        Status.QUEUED,
        "",
        "",
        0,
    )
    assert DBTaskResult.objects.filter(id=item.task_id).exists()

    item = run(item, client_for())
    assert item.status == Status.SUCCEEDED


def test_only_failed_generations_can_be_retried(client_for, media_root):
    item = run(queued_row(), client_for())
    with pytest.raises(ValidationError):
        intake.retry(item)


def test_a_storage_failure_fails_the_row_and_leaves_no_files(client_for, media_root, monkeypatch):
    from django.core.files.storage import default_storage

    real_save = default_storage.save
    saved = []

    def save_then_fail(name, content, **kwargs):
        if len(saved) == 2:
            raise OSError(28, "No space left on device")
        saved.append(real_save(name, content, **kwargs))
        return saved[-1]

    monkeypatch.setattr(default_storage, "save", save_then_fail)
    item = run(queued_row(), client_for())

    assert item.status == Status.FAILED
    assert item.failure_reason == "The image could not be saved on this server."
    assert "No space left" in item.failure_detail
    assert len(saved) == 2
    assert stored_files(media_root) == []


def test_a_file_left_half_written_by_a_full_disk_is_removed(client_for, media_root, monkeypatch):
    # A full disk fails the write part-way: the storage has made the file but not finished
    # it, and never returned its name.
    from django.core.files.storage import default_storage

    real_save = default_storage.save
    calls = []

    def fill_the_disk(name, content, **kwargs):
        calls.append(name)
        if len(calls) == 3:
            real_save(name, ContentFile(b"half a thumbnail"), **kwargs)
            raise OSError(28, "No space left on device")
        return real_save(name, content, **kwargs)

    monkeypatch.setattr(default_storage, "save", fill_the_disk)
    item = run(queued_row(), client_for())

    assert item.status == Status.FAILED
    assert stored_files(media_root) == []


def test_deleting_a_generation_removes_its_files(
    client_for, media_root, django_capture_on_commit_callbacks
):
    item = run(queued_row(), client_for())
    assert len(stored_files(media_root)) == 4  # original, 2 thumbnails, preview

    with django_capture_on_commit_callbacks(execute=True):
        storage.delete(item)

    assert not Generation.objects.filter(pk=item.pk).exists()
    assert stored_files(media_root) == []


# --- claims, dead workers, lost tasks -------------------------------------------------------


def test_of_two_workers_claiming_the_same_job_exactly_one_wins():
    item = queued_row()
    first = worker.claim(item.pk, lease_seconds=60)
    second = worker.claim(item.pk, lease_seconds=60)
    assert first is not None and first.status == Status.RUNNING
    assert second is None


def test_a_job_whose_worker_died_completes_exactly_once_later(
    client_for, media_root, django_capture_on_commit_callbacks
):
    item = queued_row()
    # Worker A claims the job, writes its files, and dies before committing.
    dead = worker.claim(item.pk, lease_seconds=60)
    dead_names = storage.file_names(item.public_id, dead.claim_token, "jpg")
    for name in (dead_names.original, *dead_names.thumbnails, dead_names.preview):
        (media_root / name).parent.mkdir(parents=True, exist_ok=True)
        (media_root / name).write_bytes(b"half-written")

    # Nothing happens while its lease runs...
    assert recovery.recover_lost_work(now=timezone.now()) == 0
    # ...then the sweep re-queues it, removes the dead claim's files and enqueues a task.
    later = timezone.now() + timedelta(seconds=61)
    with django_capture_on_commit_callbacks(execute=True):
        assert recovery.recover_lost_work(now=later) == 1
    item.refresh_from_db()
    assert item.status == Status.QUEUED
    assert stored_files(media_root) == []
    assert DBTaskResult.objects.filter(id=item.task_id).exists()

    item = run(item, client_for())
    assert item.status == Status.SUCCEEDED
    assert item.claims == 2
    assert len(stored_files(media_root)) == 4  # original, 2 thumbnails, preview

    # The task may be delivered twice (re-enqueued while the first was still pending): the
    # second run finds nothing to do and changes nothing.
    before = (item.sha256, item.original.name, item.finished_at)
    item = run(item, client_for())
    assert (item.sha256, item.original.name, item.finished_at) == before
    assert len(stored_files(media_root)) == 4  # original, 2 thumbnails, preview


def test_a_zombie_worker_cannot_overwrite_the_result_of_the_worker_that_took_over(
    client_for, media_root
):
    item = queued_row()
    zombie = worker.claim(item.pk, lease_seconds=60)
    Generation.objects.filter(pk=item.pk).update(
        lease_expires_at=timezone.now() - timedelta(seconds=1)
    )
    item = run(item, client_for())  # the second worker claims the expired lease and finishes
    assert item.status == Status.SUCCEEDED
    files_after_success = stored_files(media_root)

    # The first worker wakes up and tries to store its own image with its stale token.
    image = client_for().text2image("something else")
    worker._store(zombie, zombie.claim_token, image, client_for().config)

    item.refresh_from_db()
    assert item.sha256 == hashlib.sha256(render("a lighthouse at dusk", "fog")).hexdigest()
    assert stored_files(media_root) == files_after_success


def test_a_job_that_keeps_killing_its_worker_is_failed_not_retried_forever(settings):
    settings.GALLERY_MAX_CLAIMS = 2
    item = queued_row()
    for _ in range(2):
        assert worker.claim(item.pk, lease_seconds=-1) is not None  # lease already expired
    assert worker.claim(item.pk, lease_seconds=60) is None
    item.refresh_from_db()
    assert item.status == Status.FAILED
    assert "stopped unexpectedly" in item.failure_reason


def test_lost_tasks_are_found_on_a_queue_other_than_the_database(
    settings, django_capture_on_commit_callbacks
):
    # Any django-tasks backend that can look results up works, not only django-tasks-db.
    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.dummy.DummyBackend"}}
    with django_capture_on_commit_callbacks(execute=True):
        alive = intake.submit(prompt="has a task")
    lost = Generation.objects.create(prompt="lost", task_id="no-such-task")
    old = timezone.now() - timedelta(minutes=5)
    Generation.objects.filter(pk__in=[alive.pk, lost.pk]).update(queued_at=old)

    assert recovery.recover_lost_work() == 1

    lost.refresh_from_db()
    assert lost.task_id != "no-such-task"


def test_a_queued_row_whose_task_was_lost_is_enqueued_again(
    settings, django_capture_on_commit_callbacks
):
    settings.GALLERY_QUEUED_GRACE = 60
    lost = Generation.objects.create(prompt="lost", queued_at=timezone.now() - timedelta(minutes=5))
    fresh = Generation.objects.create(prompt="fresh", queued_at=timezone.now())
    with django_capture_on_commit_callbacks(execute=True):
        alive = intake.submit(prompt="has a task")
    Generation.objects.filter(pk=alive.pk).update(queued_at=timezone.now() - timedelta(minutes=5))

    assert recovery.recover_lost_work() == 1

    lost.refresh_from_db()
    fresh.refresh_from_db()
    assert DBTaskResult.objects.filter(id=lost.task_id, status="READY").exists()
    assert fresh.task_id == ""  # still within its grace period
    assert recovery.recover_lost_work() == 0  # now every old queued row has a live task


# The worker closes connections between tasks, as in production; that needs real commits.
@pytest.mark.django_db(transaction=True)
def test_the_real_worker_runs_queued_generations(
    client_for, standin, media_root, settings, django_capture_on_commit_callbacks
):
    settings.SDXL_ENDPOINT_URL = standin.url
    with django_capture_on_commit_callbacks(execute=True):
        items = [intake.submit(prompt=f"picture {n}") for n in range(3)]

    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        call_command("db_worker", batch=True, reload=False, startup_delay=False, verbosity=0)
    finally:
        for sig, handler in handlers.items():
            signal.signal(sig, handler)

    for item in items:
        item.refresh_from_db()
        assert item.status == Status.SUCCEEDED
    assert len(standin.received) == 3
    assert set(DBTaskResult.objects.values_list("status", flat=True)) == {"SUCCESSFUL"}


class DatabaseAway:
    """Fail the result's UPDATE (and, while `down`, every query) as a database that went
    away mid-commit would: Django's own hook for wrapping the queries a connection runs."""

    def __init__(self, fail_first_result_update: bool = True):
        self.down = False
        self.pending = fail_first_result_update

    def __call__(self, execute, sql, params, many, context):
        storing = sql.startswith("UPDATE") and "succeeded" in (params or ())
        if self.down or (self.pending and storing):
            self.pending = False
            raise OperationalError("terminating connection due to administrator command")
        return execute(sql, params, many, context)


@pytest.mark.django_db(transaction=True)
def test_a_database_that_goes_away_while_storing_is_ridden_out(client_for, media_root):
    item = queued_row()
    sleep = FakeSleep()
    with connection.execute_wrapper(DatabaseAway()):
        worker.run(item.pk, client=client_for(), sleep=sleep)

    item.refresh_from_db()
    assert item.status == Status.SUCCEEDED
    assert sleep.calls == [worker.COMMIT_RETRY_DELAYS[0]]
    assert stored_files(media_root) == sorted(f.name for f in item.file_fields())


@pytest.mark.django_db(transaction=True)
def test_a_database_that_stays_away_leaves_the_job_and_its_files_to_the_sweep(
    client_for, media_root
):
    item = queued_row()
    away = DatabaseAway()
    sleep = FakeSleep()

    def still_down(seconds):
        away.down = True  # from the first wait on, nothing reaches the database
        sleep(seconds)

    with connection.execute_wrapper(away):
        worker.run(item.pk, client=client_for(), sleep=still_down)

    assert sleep.calls == list(worker.COMMIT_RETRY_DELAYS)
    item.refresh_from_db()
    # Not failed and nothing deleted: whether the commit landed could not be known.
    assert item.status == Status.RUNNING
    assert len(stored_files(media_root)) == len(Generation.FILE_FIELDS)

    # The lease runs out; the sweep re-queues the job and removes that claim's files.
    recovery.recover_lost_work(now=item.lease_expires_at + timedelta(seconds=1))
    item.refresh_from_db()
    assert item.status == Status.QUEUED
    assert stored_files(media_root) == []


# --- generate_now (the synchronous APIs) ----------------------------------------------------


def test_generate_now_makes_the_image_in_this_thread(client_for, media_root):
    item = intake.submit(prompt="a lighthouse at dusk")
    done = worker.generate_now(item.pk, client=client_for())
    assert done.status == Status.SUCCEEDED
    assert len(stored_files(media_root)) == 4


def test_generate_now_waits_for_the_worker_that_claimed_the_job(client_for, media_root):
    item = queued_row()
    worker.claim(item.pk, lease_seconds=60)  # a worker has it
    polls = []

    def worker_finishes_after_two_polls(seconds):
        polls.append(seconds)
        if len(polls) == 2:
            Generation.objects.filter(pk=item.pk).update(
                status=Status.FAILED, failure_reason="x", failure_code="endpoint_timeout"
            )

    done = worker.generate_now(item.pk, client=client_for(), sleep=worker_finishes_after_two_polls)
    assert (done.status, done.failure_code, len(polls)) == (Status.FAILED, "endpoint_timeout", 2)
    assert stored_files(media_root) == []  # this thread never called the endpoint


def test_a_worker_stopped_mid_call_hands_the_job_back_with_a_fresh_task(
    client_for, media_root, monkeypatch
):
    """Ctrl-C (or a second SIGTERM) while the endpoint is answering: the job is queued
    again at once, with a new task for another worker, instead of waiting out its lease."""
    from gallery import tasks

    item = queued_row()
    client = client_for()

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(client, "text2image", interrupted)
    monkeypatch.setattr(endpoint, "get_client", lambda: client)

    with pytest.raises(KeyboardInterrupt):
        tasks.run_generation.func(item.pk)

    item.refresh_from_db()
    assert (item.status, item.claim_token, item.lease_expires_at) == (Status.QUEUED, "", None)
    assert DBTaskResult.objects.filter(id=item.task_id, status="READY").exists()
