"""A worker's heartbeat: a live worker keeps its claim however long the endpoint takes, and a
dead (or stuck) one loses it within a claim silence, so its job runs again soon, once.

The tests that watch a heartbeat beat run the worker in a thread of their own, with real
commits (a heartbeat writes from its own connection) and the stand-in endpoint over HTTP
with a latency; silences and intervals are shortened to seconds."""

import threading
import time
from datetime import timedelta

import pytest
from django.db import OperationalError, connection
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from gallery.models import Generation
from gallery.services import endpoint, recovery, storage, worker
from tests.conftest import stored_files
from tests.procs import wait_for

pytestmark = [pytest.mark.unit, pytest.mark.django_db]

Status = Generation.Status
ONE_ATTEMPT = endpoint.RetryPolicy(max_attempts=1)


def queued_row(prompt="a lighthouse at dusk") -> Generation:
    return Generation.objects.create(prompt=prompt, queued_at=timezone.now())


@pytest.fixture
def short_silence(settings):
    """A claim silent for 1.5 s is dead; a live worker beats every 0.2 s."""
    settings.GALLERY_CLAIM_SILENCE = 1.5
    settings.GALLERY_HEARTBEAT_INTERVAL = 0.2
    return settings


class WorkerThread(threading.Thread):
    """`worker.run` in a thread of its own, as a worker process runs it; what it raised is
    kept for the test to check."""

    def __init__(self, generation_id: int, client: endpoint.SDXLClient):
        super().__init__(name="test-worker", daemon=True)
        self.generation_id = generation_id
        self.client = client
        self.error: BaseException | None = None
        self.start()

    def run(self) -> None:
        try:
            worker.run(self.generation_id, client=self.client, policy=ONE_ATTEMPT)
        except BaseException as exc:  # reported by the test
            self.error = exc
        finally:
            connection.close()  # this thread's own connection


def heartbeats() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("gallery-heartbeat")]


@pytest.mark.django_db(transaction=True)
def test_a_worker_busy_longer_than_the_silence_keeps_its_claim_through_a_locked_database(
    short_silence, standin, client_for, media_root, monkeypatch, caplog
):
    standin.latency = 4.0  # the endpoint call alone lasts over two silences
    real_extend = worker.extend_lease
    beats = []

    def locked_at_first(generation_id, token):
        beats.append(time.monotonic())
        if len(beats) <= 2:  # SQLite's answer while another writer holds the lock too long
            raise OperationalError("database is locked")
        return real_extend(generation_id, token)

    monkeypatch.setattr(worker, "extend_lease", locked_at_first)
    item = queued_row()
    run = WorkerThread(item.pk, client_for(read_timeout=10.0))
    wait_for(lambda: standin.received, 10, "the worker to call the endpoint")

    leases = []
    while run.is_alive():
        row = Generation.objects.get(pk=item.pk)
        if row.status != Status.RUNNING:
            break
        ahead = (row.lease_expires_at - timezone.now()).total_seconds()
        # Short, so a dead worker's claim lapses soon; yet it never runs out while it works.
        assert 0 < ahead <= 1.5
        assert recovery.recover_lost_work() == 0  # the sweep leaves a live claim alone
        leases.append(row.lease_expires_at)
        time.sleep(0.1)
    run.join(10)

    assert run.error is None
    item.refresh_from_db()
    assert (item.status, item.claims, item.attempts) == (Status.SUCCEEDED, 1, 1)
    assert leases[-1] - leases[0] >= timedelta(seconds=2)  # it beat all through the call
    assert "heartbeat failed; trying again" in caplog.text
    assert len(standin.received) == 1
    assert len(stored_files(media_root)) == 4  # original, 2 thumbnails, preview
    assert heartbeats() == []  # stopped with the run


class WorkerDied(BaseException):
    """A SIGKILL as seen from inside: nothing after it runs, so no hand-back."""


def test_a_claim_whose_heartbeat_stopped_is_queued_again_a_silence_later_without_its_files(
    settings, client_for, media_root, monkeypatch, django_capture_on_commit_callbacks
):
    settings.GALLERY_CLAIM_SILENCE = 30
    item = queued_row()
    client = client_for()

    def dies_while_storing(prompt, negative_prompt=""):
        # The worker has written some of this claim's files when its process is killed.
        row = Generation.objects.get(pk=item.pk)
        names = storage.file_names(row.public_id, row.claim_token, "jpg")
        for name in (names.original, *names.thumbnails):
            (media_root / name).parent.mkdir(parents=True, exist_ok=True)
            (media_root / name).write_bytes(b"half-written")
        raise WorkerDied

    monkeypatch.setattr(client, "text2image", dies_while_storing)
    with pytest.raises(WorkerDied):
        worker.run(item.pk, client=client, policy=ONE_ATTEMPT)
    died = timezone.now()
    item.refresh_from_db()
    assert (item.status, item.claims) == (Status.RUNNING, 1)  # as the dead worker left it

    # No beat since the death: a silence later, and not before, the claim is dead.
    assert recovery.recover_lost_work(now=died + timedelta(seconds=29)) == 0
    with django_capture_on_commit_callbacks(execute=True):
        assert recovery.recover_lost_work(now=died + timedelta(seconds=31)) == 1
    item.refresh_from_db()
    assert (item.status, item.claim_token, item.lease_expires_at) == (Status.QUEUED, "", None)
    assert stored_files(media_root) == []  # the dead claim's files are gone
    assert DBTaskResult.objects.filter(id=item.task_id, status="READY").exists()

    worker.run(item.pk, client=client_for(), policy=ONE_ATTEMPT)
    item.refresh_from_db()
    assert (item.status, item.claims) == (Status.SUCCEEDED, 2)
    assert sorted(stored_files(media_root)) == sorted(f.name for f in item.file_fields())


@pytest.mark.django_db(transaction=True)
def test_a_heartbeat_never_revives_a_claim_that_was_taken_away(
    short_silence, standin, client_for, media_root
):
    standin.latency = 2.0
    item = queued_row()
    run = WorkerThread(item.pk, client_for(read_timeout=10.0))
    wait_for(lambda: standin.received, 10, "the worker to call the endpoint")

    assert worker.requeue(Generation.objects.get(pk=item.pk), timezone.now())
    time.sleep(0.8)  # four beats' worth
    row = Generation.objects.get(pk=item.pk)
    assert (row.status, row.claim_token, row.lease_expires_at) == (Status.QUEUED, "", None)
    assert heartbeats() == []  # the first beat that found the claim gone ended it

    run.join(10)
    assert run.error is None
    row.refresh_from_db()
    assert (row.status, row.lease_expires_at) == (Status.QUEUED, None)
    assert stored_files(media_root) == []  # the late result was discarded with its files


@pytest.mark.django_db(transaction=True)
def test_a_worker_stuck_past_its_step_budget_stops_beating_and_loses_the_job(
    short_silence, client_for, media_root, monkeypatch, caplog
):
    item = queued_row()
    client = client_for(connect_timeout=0.1, read_timeout=0.2)
    real_call = client.text2image
    release = threading.Event()

    def hangs(prompt, negative_prompt=""):
        # Stuck where the client's own timeouts do not reach (the process is still alive).
        release.wait(15)
        return real_call(prompt, negative_prompt)

    monkeypatch.setattr(client, "text2image", hangs)
    run = WorkerThread(item.pk, client)
    # Budget 0.3 s, plus a silence of grace, plus the silence of the lapsed lease.
    wait_for(recovery.recover_lost_work, 8, "the sweep to take the stuck worker's job")
    release.set()
    run.join(10)

    assert run.error is None
    item.refresh_from_db()
    assert (item.status, item.claims) == (Status.QUEUED, 1)
    assert "stuck, a silence past its step's time budget" in caplog.text
    assert stored_files(media_root) == []  # its late result was discarded


@pytest.mark.django_db(transaction=True)
def test_generate_now_waits_for_a_live_worker_longer_than_the_silence(
    short_silence, standin, client_for, media_root
):
    standin.latency = 3.0
    item = queued_row()
    run = WorkerThread(item.pk, client_for(read_timeout=10.0))  # a worker took it first
    wait_for(lambda: standin.received, 10, "the worker to call the endpoint")

    done = worker.generate_now(item.pk, client=client_for(read_timeout=10.0))
    run.join(10)
    assert done.status == Status.SUCCEEDED
    assert len(standin.received) == 1  # the waiting caller never called the endpoint


def test_waiting_on_a_dead_workers_job_ends_once_its_lease_ran_out(settings):
    settings.GALLERY_CLAIM_SILENCE = 1.0
    item = queued_row()
    worker.claim(item.pk)  # and then its worker died: no heartbeat
    started = time.monotonic()

    row = worker.wait_for(item.pk, timeout=0.1, poll=0.05)

    assert row.status == Status.RUNNING  # unfinished: the sweep will re-queue it
    assert 0.8 <= time.monotonic() - started < 3
