"""The operator's dashboard in a real browser: desktop and phone, light and dark, no
sideways scroll, nothing critical or serious for axe; screenshots for a person to look at."""

import os
from pathlib import Path

import pytest

from gallery.services import dashboard
from tests.a11y import axe_violations
from tests.test_browser import sign_in
from tests.test_browser_pages import sideways
from tests.test_dashboard import seeded  # noqa: F401  (the fixture)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SHOTS = Path(os.environ.get("GALLERY_SHOTS", "/tmp/dash-shots"))


def test_the_dashboard_at_both_sizes_light_and_dark(live_server, page, moderator, seeded):  # noqa: F811
    dashboard.record_call("Stand-in", "ok", 1.2)
    dashboard.record_call("Stand-in", "endpoint_rate_limited", 0.1)
    SHOTS.mkdir(parents=True, exist_ok=True)
    sign_in(page, live_server.url, "mod", "mod-password-123")
    found = []
    for width, height in ((1440, 900), (390, 844)):
        page.set_viewport_size({"width": width, "height": height})
        for scheme in ("light", "dark"):
            page.emulate_media(color_scheme=scheme)
            page.goto(live_server.url + "/operations/")
            assert page.get_by_role("img", name="Images per day").is_visible()
            assert page.get_by_role("cell", name="endpoint_timeout").count() == 0
            assert page.get_by_role("rowheader", name="endpoint_timeout").is_visible()
            label = f"{width} {scheme}"
            found += sideways(page, label) + [f"{label}: {v}" for v in axe_violations(page)]
            page.screenshot(path=SHOTS / f"operations-{width}-{scheme}.png", full_page=True)
    assert not found, "\n".join(found)
