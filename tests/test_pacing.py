"""Pacing the endpoint's calls across workers, with a fake clock: no test here sleeps."""

import threading

import pytest
from django.db import connection
from django.utils import timezone

from gallery.models import EndpointPace, Generation
from gallery.services import endpoint, pacing, worker

pytestmark = [pytest.mark.unit, pytest.mark.django_db]

URL = "https://sdxl.example/api/text2image"


class Clock:
    def __init__(self, now: float = 1_000_000.0):
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_slots_are_spaced_by_the_rate():
    clock = Clock()
    pacer = pacing.Pacer(URL, 60, now=clock)
    assert [pacer.reserve() for _ in range(4)] == [0.0, 1.0, 2.0, 3.0]
    clock.now += 2.5
    assert pacer.reserve() == 1.5  # the next free slot is at +4 s


def test_an_idle_endpoint_saves_up_no_burst():
    clock = Clock()
    pacer = pacing.Pacer(URL, 30, now=clock)
    assert pacer.reserve() == 0.0
    clock.now += 3600
    assert [pacer.reserve(), pacer.reserve()] == [0.0, 2.0]


def test_two_processes_pace_together_through_the_database():
    """Two pacers share nothing but the row, as two worker processes would."""
    clock = Clock()
    first = pacing.Pacer(URL, 2, now=clock)
    second = pacing.Pacer(URL, 2, now=clock)
    assert [first.reserve(), second.reserve(), first.reserve()] == [0.0, 30.0, 60.0]
    # Another endpoint has its own pace.
    assert pacing.Pacer("http://other.example/", 2, now=clock).reserve() == 0.0
    assert EndpointPace.objects.count() == 2


@pytest.mark.django_db(transaction=True)
def test_workers_racing_for_slots_each_get_their_own():
    clock = Clock()
    start = threading.Barrier(6)
    waits: list[float] = []

    def worker() -> None:
        try:
            pacer = pacing.Pacer(URL, 120, now=clock)
            start.wait()
            waits.extend(pacer.reserve() for _ in range(3))
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sorted(waits) == [n * 0.5 for n in range(18)]


def test_an_unlimited_endpoint_is_not_paced():
    pacer = pacing.Pacer(URL, 0, now=Clock())
    assert [pacer.reserve() for _ in range(3)] == [0.0, 0.0, 0.0]
    assert not EndpointPace.objects.exists()


def config(url: str = URL, token: str = "") -> endpoint.EndpointConfig:
    return endpoint.EndpointConfig(
        url=url, token=token, label="x", connect_timeout=1, read_timeout=1, max_bytes=1,
        max_pixels=1,
    )  # fmt: skip


def test_default_rates(settings):
    settings.GALLERY_ENDPOINT_RATE_PER_MINUTE = ""
    settings.GALLERY_STANDIN = False
    assert pacing.rate_per_minute(config(settings.OVH_SDXL_URL)) == 2  # anonymous hosted
    assert pacing.rate_per_minute(config(settings.OVH_SDXL_URL, token="t")) == 400
    assert pacing.rate_per_minute(config("http://127.0.0.1:9/api/text2image")) == 0
    settings.GALLERY_STANDIN = True
    assert pacing.rate_per_minute(config("http://127.0.0.1:9/api/text2image")) == 0
    settings.GALLERY_ENDPOINT_RATE_PER_MINUTE = "10"
    assert pacing.rate_per_minute(config(settings.OVH_SDXL_URL, token="t")) == 10


def test_a_worker_waits_its_turn_in_the_queue_and_says_so(
    settings, monkeypatch, client_for, media_root
):
    settings.GALLERY_ENDPOINT_RATE_PER_MINUTE = "6"  # a slot every 10 s
    monkeypatch.setattr(pacing, "_clock", Clock())
    client = client_for()
    policy = endpoint.RetryPolicy(max_attempts=1)
    first, second = (
        Generation.objects.create(prompt=p, queued_at=timezone.now()) for p in ("one", "two")
    )
    notes: list[tuple[float, str, str]] = []

    def sleep(seconds: float) -> None:
        row = Generation.objects.get(pk=second.pk)
        notes.append((seconds, row.status, row.status_note))
        assert row.lease_expires_at > timezone.now()  # the claim stays alive while it waits

    worker.run(first.pk, client=client, policy=policy, sleep=sleep)
    assert notes == []  # the first call went at once
    worker.run(second.pk, client=client, policy=policy, sleep=sleep)
    assert notes == [(10.0, "running", "Waiting for the endpoint's rate limit, starting in 10 s.")]
    second.refresh_from_db()
    assert (second.status, second.status_note) == ("succeeded", "")
