"""Every way of creating work passes the one intake gate: the blocklist, the images-in-
progress cap, the daily quota and the per-address rate. Retrying a failed image used to skip
all four; these tests fail without the gate on retry."""

from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from django.conf import settings as django_settings
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.contrib.sessions.backends.db import SessionStore

from gallery.models import BlockedTerm, Generation
from tests.factories import make_failed, signed_in

pytestmark = [pytest.mark.web, pytest.mark.django_db]

Status = Generation.Status


def in_flight(user) -> int:
    return Generation.objects.filter(owner=user, status__in=(Status.QUEUED, Status.RUNNING)).count()


def test_a_retry_of_a_prompt_blocked_since_is_refused_and_stays_failed(owner, no_limits):
    item = make_failed("a red fox in the snow", owner=owner)
    BlockedTerm.objects.create(term="fox", reason="no foxes here")

    response = signed_in(owner).post(f"/g/{item.public_id}/retry", follow=True)

    assert (
        "This prompt can&#x27;t be used on this site (no foxes here)" in response.content.decode()
    )
    item.refresh_from_db()
    assert item.status == Status.FAILED  # never reaches a worker, never becomes public


def test_retries_count_against_the_images_in_progress_cap(owner, no_limits):
    no_limits.GALLERY_MAX_WAITING = 3
    rows = [make_failed(owner=owner) for _ in range(5)]
    client = signed_in(owner)

    for row in rows:
        client.post(f"/g/{row.public_id}/retry")

    assert in_flight(owner) == 3
    assert Generation.objects.filter(owner=owner, status=Status.FAILED).count() == 2


def test_retries_count_against_the_daily_quota(owner, no_limits):
    no_limits.GALLERY_DAILY_QUOTA = 2
    client = signed_in(owner)
    rows = [make_failed(owner=owner) for _ in range(3)]

    responses = [client.post(f"/g/{row.public_id}/retry", follow=True) for row in rows]

    assert in_flight(owner) == 2
    assert "You have used all 2 images for today" in responses[-1].content.decode()


def test_retries_count_against_the_per_address_rate(owner, no_limits, fixed_clock):
    no_limits.GALLERY_IP_RATES = {**no_limits.GALLERY_IP_RATES, "submit": "2/m"}
    client = signed_in(owner)
    rows = [make_failed(owner=owner) for _ in range(3)]

    for row in rows:
        client.post(f"/g/{row.public_id}/retry")

    assert in_flight(owner) == 2


def test_staff_retry_still_passes_the_blocklist(admin_client, owner, no_limits):
    item = make_failed("a red fox", owner=owner)
    BlockedTerm.objects.create(term="fox", reason="no foxes here")

    admin_client.post(
        "/admin/gallery/generation/",
        {"action": "retry_failed", "_selected_action": [item.pk]},
    )

    item.refresh_from_db()
    assert item.status == Status.FAILED


@pytest.mark.django_db(transaction=True)
def test_ten_parallel_retries_put_no_more_in_flight_than_the_cap(live_server, owner, settings):
    """Real HTTP, ten requests at once against the live server: the cap holds under races."""
    settings.GALLERY_DAILY_QUOTA = 0
    settings.GALLERY_IP_RATES = {"signin": "0", "signup": "0", "reset": "0", "submit": "0"}
    settings.GALLERY_MAX_WAITING = 3
    rows = [make_failed(owner=owner) for _ in range(10)]
    session = SessionStore()
    session[SESSION_KEY] = str(owner.pk)
    session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    session[HASH_SESSION_KEY] = owner.get_session_auth_hash()
    session.save()
    cookies = {django_settings.SESSION_COOKIE_NAME: session.session_key, "csrftoken": "x" * 32}

    def retry(row: Generation) -> int:
        return requests.post(
            f"{live_server.url}/g/{row.public_id}/retry",
            cookies=cookies,
            data={"csrfmiddlewaretoken": "x" * 32},
            headers={"Referer": live_server.url + "/"},
            allow_redirects=False,
            timeout=30,
        ).status_code

    with ThreadPoolExecutor(max_workers=10) as pool:
        statuses = list(pool.map(retry, rows))

    assert statuses == [302] * 10  # each is answered (refused ones with a message)
    assert in_flight(owner) == 3
