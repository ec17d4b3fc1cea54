"""The operator's dashboard and /metrics: the numbers match a seeded data set, rolled up or
live, and /metrics parses with prometheus-client's own parser."""

import re
from datetime import datetime, time, timedelta

import pytest
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from gallery.models import DailyFigures, Generation, Report
from gallery.services import dashboard
from tests.factories import make_done, make_failed, signed_in

pytestmark = [pytest.mark.web, pytest.mark.django_db]


def _at(day, hour, seconds=0.0):
    return datetime.combine(day, time(hour), tzinfo=timezone.get_current_timezone()) + timedelta(
        seconds=seconds
    )


def _done(owner, day, wait, run, size):
    queued = _at(day, 1)
    return make_done(
        owner=owner,
        queued_at=queued,
        started_at=queued + timedelta(seconds=wait),
        finished_at=queued + timedelta(seconds=wait + run),
        byte_size=size,
    )


@pytest.fixture
def seeded(owner, other_user):
    today = timezone.localdate()
    yesterday = today - timedelta(days=1)
    for wait, run in ((10, 5), (20, 6), (30, 7), (40, 8)):
        _done(owner, yesterday, wait, run, 100)
    for code in ("endpoint_timeout", "endpoint_timeout", "endpoint_rate_limited"):
        make_failed(
            owner=other_user, failure_code=code, queued_at=_at(yesterday, 2),
            started_at=_at(yesterday, 2, 1), finished_at=_at(yesterday, 2, 3),
        )  # fmt: skip
    _done(owner, today, 4, 2, 50)
    Generation.objects.create(prompt="waiting", owner=owner)
    reported = make_done(owner=owner, finished_at=_at(today, 0), byte_size=0)
    Report.objects.create(generation=reported, reporter=other_user, category="spam")
    return today, yesterday


def _check_yesterday(day):
    assert (day.succeeded, day.failed) == (4, 3)
    assert day.failures == {"endpoint_timeout": 2, "endpoint_rate_limited": 1}
    # Nearest rank over the seven finished: waits 1,1,1,10,20,30,40; runs 2,2,2,5,6,7,8.
    assert (day.wait_p50, day.wait_p95) == (10, 40)
    assert (day.run_p50, day.run_p95) == (5, 8)
    assert day.bytes_added == 400


def test_today_shows_an_image_the_moment_it_finishes_though_its_earlier_hours_are_kept(owner):
    start = _at(timezone.localdate(), 0)
    make_done(
        owner=owner, queued_at=start, started_at=start + timedelta(seconds=1),
        finished_at=start + timedelta(seconds=3), byte_size=10,
    )  # fmt: skip
    assert dashboard.overview().days[-1].succeeded == 1  # the finished hours now kept
    now = timezone.now()
    make_done(
        owner=owner, queued_at=now - timedelta(seconds=5),
        started_at=now - timedelta(seconds=4), finished_at=now, byte_size=20,
    )  # fmt: skip
    today = dashboard.overview().days[-1]
    assert (today.succeeded, today.bytes_added) == (2, 30)
    assert (today.wait_p50, today.run_p50, today.run_p95) == (1, 2, 4)


def test_the_heaviest_users_count_a_request_at_once_though_earlier_hours_are_kept(
    owner, other_user
):
    for user, hours_ago in ((owner, 3), (owner, 2), (other_user, 2)):
        asked = make_done(owner=user)
        Generation.objects.filter(pk=asked.pk).update(
            created_at=timezone.now() - timedelta(hours=hours_ago)
        )
    old = make_done(owner=other_user)
    Generation.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=2))
    ranked = [(u.username, u.last_day) for u in dashboard.heaviest()]
    assert ranked == [("ada", 2), ("bob", 1)]  # the hours now kept; two days ago left out
    make_done(owner=other_user)
    make_done(owner=other_user)
    ranked = [(u.username, u.last_day) for u in dashboard.heaviest()]
    assert ranked == [("bob", 3), ("ada", 2)]


def test_the_figures_match_the_seeded_rows_live_and_rolled_up(seeded):
    _today, yesterday = seeded
    live = dashboard.overview()
    assert live.days[-2].live
    _check_yesterday(live.days[-2])
    assert live.stored_bytes == 450  # nothing rolled up: every kept original

    assert dashboard.roll_up() == dashboard.DAYS - 1
    assert dashboard.roll_up() == 0  # each day once
    assert DailyFigures.objects.get(day=yesterday).stored_bytes == 400
    figures = dashboard.overview()
    assert not figures.days[-2].live and figures.days[-1].live
    _check_yesterday(figures.days[-2])
    assert figures.days[-1].succeeded == 2 and figures.days[-1].reports == 1
    assert figures.stored_bytes == 450
    assert figures.failures == [("endpoint_timeout", 2), ("endpoint_rate_limited", 1)]
    assert (figures.depth.queued, figures.open_reports) == (1, 1)
    [ada, bob] = figures.heaviest
    assert (ada.username, ada.last_day, bob.username, bob.last_day) == ("ada", 7, "bob", 3)
    assert ada.quota.daily_limit == 50


def test_endpoint_latency_and_rate_limit_hits():
    for seconds in (0.3, 0.4, 1.5, 3.0):
        dashboard.record_call("Stand-in", "ok", seconds)
    dashboard.record_call("Stand-in", "endpoint_rate_limited", 0.1)
    [stat] = dashboard.endpoint_stats()
    assert (stat.calls, stat.errors, stat.rate_limited) == (5, 1, 1)
    # Buckets: 0.1, 0.3, 0.4 under 0.5 s; 1.5 under 2; 3.0 under 5.
    assert (stat.p50, stat.p95) == (0.5, 5)


def test_the_page_shows_the_figures_to_staff_only(seeded, moderator, owner):
    page = signed_in(moderator).get("/operations/")
    assert page.status_code == 200
    html = page.content.decode()
    assert '<svg class="chart"' in html and "<title" in html
    assert "endpoint_timeout" in html and 'data-testid="queued">1<' in html
    assert signed_in(owner).get("/operations/").status_code == 404


def test_metrics_is_off_by_default(client):
    assert client.get("/metrics").status_code == 404


def test_metrics_parse_and_need_the_token(seeded, client, settings):
    settings.GALLERY_METRICS = True
    settings.GALLERY_METRICS_TOKEN = "scrape-secret"
    settings.GALLERY_METRICS_ALLOW = []
    dashboard.record_call("Stand-in", "ok", 1.2)
    dashboard.record_call("Stand-in", "endpoint_server_error", 0.2)
    assert client.get("/metrics").status_code == 401
    wrong = client.get("/metrics", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401
    response = client.get("/metrics", headers={"Authorization": "Bearer scrape-secret"})
    assert response.status_code == 200
    families = {f.name: f for f in text_string_to_metric_families(response.content.decode())}
    depth = {s.labels["state"]: s.value for s in families["gallery_queue_depth"].samples}
    assert depth == {"queued": 1, "running": 0}
    calls = {
        s.labels["outcome"]: s.value
        for s in families["gallery_endpoint_calls"].samples
        if s.name.endswith("_total")
    }
    assert calls == {"ok": 1, "endpoint_server_error": 1}
    buckets = {
        s.labels["le"]: s.value
        for s in families["gallery_endpoint_latency_seconds"].samples
        if s.name.endswith("_bucket")
    }
    assert (buckets["0.5"], buckets["2"], buckets["+Inf"]) == (1, 2, 2)
    assert "scrape-secret" not in response.content.decode()


def test_metrics_from_an_allowed_address(client, settings):
    settings.GALLERY_METRICS = True
    settings.GALLERY_METRICS_TOKEN = ""
    settings.GALLERY_METRICS_ALLOW = ["10.0.0.0/8"]
    assert client.get("/metrics", REMOTE_ADDR="10.1.2.3").status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="192.168.1.1").status_code == 401


def test_sentry_events_carry_no_token_cookie_or_prompt():
    from config import sentry

    event = {
        "request": {
            "headers": {"Authorization": "Bearer abc", "Cookie": "sessionid=1", "Accept": "*/*"},
            "cookies": {"sessionid": "1"},
            "data": {"prompt": "a secret idea", "visibility": "public"},
        },
        "exception": {"values": [{"value": "calling with token ovh-123 failed"}]},
    }
    clean = sentry.scrub(event, send_prompts=False, secrets=["ovh-123"])
    text = repr(clean)
    for secret in ("abc", "sessionid", "a secret idea", "ovh-123"):
        assert secret not in text
    assert clean["request"]["data"]["visibility"] == "public"


def test_the_worker_counts_each_call_to_the_endpoint(client_for, standin, media_root):
    from tests.test_pipeline import queued_row, run

    standin.script("429-retry-after", "ok")
    item = run(queued_row(), client_for())
    assert item.status == Generation.Status.SUCCEEDED
    [stat] = dashboard.endpoint_stats()
    assert (stat.endpoint, stat.calls, stat.errors, stat.rate_limited) == ("Test stand-in", 2, 1, 1)


def test_a_day_alone_on_a_line_chart_is_drawn():
    from gallery.views.charts import Series, lines

    svg = lines(
        "Wait", "", ["1 Dec", "2 Dec", "3 Dec"], [Series("wait", [None, None, 4.0], "c-wait")]
    )
    # A path of one point draws nothing: the day is a dot instead.
    assert len(re.findall(r'<circle class="dot c-wait"', svg)) == 1, svg
    two = lines("Wait", "", ["1 Dec", "2 Dec"], [Series("wait", [3.0, 4.0], "c-wait")])
    assert "<circle" not in two  # two days make a line
