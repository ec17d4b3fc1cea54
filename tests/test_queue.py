"""The queue as a user meets it: how many images may wait, batches against the daily quota,
cancelling, turns between people and the estimate of when an image starts."""

from datetime import timedelta

import pytest
from django.utils import timezone

from gallery.models import Generation
from gallery.services import intake, queue
from tests.factories import make_done, signed_in

pytestmark = [pytest.mark.web, pytest.mark.django_db]

Status = Generation.Status


def test_twenty_images_may_wait_and_the_twenty_first_is_refused_saying_why(owner, no_limits):
    no_limits.GALLERY_MAX_WAITING = 20
    for n in range(20):
        intake.submit(prompt=f"image {n}", owner=owner)

    with pytest.raises(intake.quotas.SubmissionRefused) as refused:
        intake.submit(prompt="one too many", owner=owner)
    assert "20 images waiting in the queue" in refused.value.messages[0]

    # What runs does not count: once one starts, another may wait.
    Generation.objects.filter(owner=owner).filter(
        pk=Generation.objects.filter(owner=owner).order_by("id").first().pk
    ).update(status=Status.RUNNING)
    intake.submit(prompt="now it fits", owner=owner)


def test_a_batch_counts_each_image_against_the_daily_quota_and_says_why_part_was_refused(
    owner, no_limits
):
    no_limits.GALLERY_DAILY_QUOTA = 3

    created, refusal = intake.submit_batch(count=4, prompt="a fox", owner=owner)

    assert len(created) == 3
    assert refusal.startswith("3 of 4 images were queued; the other 1 was refused:")
    assert "You have used all 3 images for today" in refusal
    with pytest.raises(intake.quotas.SubmissionRefused):
        intake.submit_batch(count=1, prompt="a fox", owner=owner)


def test_a_batch_is_one_to_the_site_maximum(owner, no_limits):
    no_limits.GALLERY_MAX_BATCH = 4
    with pytest.raises(intake.ValidationError):
        intake.submit_batch(count=5, prompt="a fox", owner=owner)
    with pytest.raises(intake.ValidationError):
        intake.submit_batch(count=0, prompt="a fox", owner=owner)


def test_the_owner_cancels_a_queued_image_and_it_is_gone(owner, no_limits):
    item = intake.submit(prompt="never mind", owner=owner)

    response = signed_in(owner).post(
        f"/g/{item.public_id}/cancel", headers={"Accept": "application/json"}
    )

    assert response.json() == {"cancelled": True}
    assert not Generation.objects.filter(pk=item.pk).exists()


def test_staff_may_cancel_someone_elses_image_and_another_user_may_not(
    owner, other_user, moderator, no_limits
):
    item = intake.submit(prompt="never mind", owner=owner)

    assert signed_in(other_user).post(f"/g/{item.public_id}/cancel").status_code == 404
    assert Generation.objects.filter(pk=item.pk).exists()
    signed_in(moderator).post(f"/g/{item.public_id}/cancel")
    assert not Generation.objects.filter(pk=item.pk).exists()


def test_a_started_image_can_no_longer_be_cancelled(owner, no_limits):
    item = intake.submit(prompt="already going", owner=owner)
    Generation.objects.filter(pk=item.pk).update(status=Status.RUNNING)

    response = signed_in(owner).post(f"/g/{item.public_id}/cancel", follow=True)

    assert "can no longer be cancelled" in response.content.decode()
    assert Generation.objects.get(pk=item.pk).status == Status.RUNNING


def test_turns_go_to_whoever_started_longest_ago_then_oldest_first(owner, other_user, no_limits):
    now = timezone.now()
    make_done(owner=owner, started_at=now - timedelta(seconds=5))
    make_done(owner=other_user, started_at=now - timedelta(seconds=50))
    ada = [intake.submit(prompt=f"ada {n}", owner=owner) for n in range(3)]
    bob = [intake.submit(prompt=f"bob {n}", owner=other_user) for n in range(2)]
    anonymous = intake.submit(prompt="from the command line")

    # Never started first, then Bob (longer ago), then Ada; each with their oldest image.
    assert queue.fair_order() == [anonymous.pk, bob[0].pk, ada[0].pk]


def test_the_estimate_counts_turns_workers_and_the_recent_median(owner, other_user, no_limits):
    no_limits.GALLERY_WORKERS = 1
    no_limits.GALLERY_ENDPOINT_RATE_PER_MINUTE = "0"  # no rate limit to wait for
    now = timezone.now()
    for seconds in (10, 20, 30):  # a median of 20 s per image
        make_done(owner=owner, started_at=now - timedelta(seconds=seconds), finished_at=now)
    # The one worker is busy.
    Generation.objects.create(prompt="busy", status=Status.RUNNING, started_at=now)
    ada = [intake.submit(prompt=f"ada {n}", owner=owner) for n in range(3)]
    bob = intake.submit(prompt="bob", owner=other_user)

    places = queue.places([*ada, bob])

    # Bob has never had a turn: his image is next, then Ada's one by one.
    assert places[bob.pk].ahead == 0
    assert [places[g.pk].ahead for g in ada] == [1, 2, 3]
    assert places[bob.pk].starts_in_words == "in about 10 s"  # half of the running one
    assert places[ada[2].pk].starts_in == pytest.approx(20 * 3.5)
    assert places[ada[2].pk].starts_in_words == "in about 2 min"


def test_the_endpoints_rate_limit_slows_the_estimate(owner, no_limits):
    no_limits.GALLERY_WORKERS = 4
    no_limits.GALLERY_ENDPOINT_RATE_PER_MINUTE = "2"  # the hosted endpoint without a key
    items = [intake.submit(prompt=f"ada {n}", owner=owner) for n in range(6)]

    places = queue.places(items)

    # Four workers start four at once; then one call every 30 s.
    assert [places[g.pk].starts_in for g in items[:4]] == [0, 0, 0, 0]
    assert places[items[5].pk].starts_in == pytest.approx(30 * 1.5)
