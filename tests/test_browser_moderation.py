"""Moderation in a real browser: reports hide an image, a moderator decides in the review
queue, and the owner reads the reason on the image's page."""

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import expect

from core.models import SiteSettings
from gallery.models import Generation
from tests.conftest import wait_for_js
from tests.factories import MODERATOR_PASSWORD, OWNER_PASSWORD
from tests.test_browser import ARTIFACTS, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def app(live_server, media_root):
    return live_server.url


def as_user(browser, app: str, username: str, password: str = ""):
    context = browser.new_context(color_scheme="light", viewport={"width": 1280, "height": 860})
    page = context.new_page()
    sign_in(page, app, username, password or "pw-" + username)
    return page


def test_reports_hide_an_image_and_a_moderator_s_reason_reaches_the_owner(
    app, browser, finished, owner, moderator
):
    ARTIFACTS.mkdir(exist_ok=True)
    SiteSettings.objects.update_or_create(pk=1, defaults={"report_threshold": 2})
    for name in ("rita", "ravi"):
        User.objects.create_user(name, password="pw-" + name)
    Generation.objects.filter(pk=finished.pk).update(owner=owner)
    url = app + finished.get_absolute_url()

    # Two people report it; the second report hides it for review.
    pages = {}
    for name, category, note in (
        ("rita", "Violence or gore", "Graphic injury in the corner"),
        ("ravi", "Something else", ""),
    ):
        page = pages[name] = as_user(browser, app, name)
        page.goto(url)
        page.get_by_text("Report this image").click()
        page.get_by_label(category).check()
        if note:
            page.get_by_label("Anything a moderator should know?").fill(note)
            page.screenshot(path=ARTIFACTS / "report-form.png", full_page=True)
        page.get_by_role("button", name="Send report").click()
        expect(page.get_by_text("Thank you for your report")).to_be_visible()
    assert Generation.objects.get(pk=finished.pk).moderation == "pending"

    # The moderator decides in the review queue, in place.
    page = as_user(browser, app, moderator.username, MODERATOR_PASSWORD)
    page.get_by_role("link", name="Review").click()
    item = page.get_by_test_id("review-item")
    expect(item).to_have_count(1)
    expect(item).to_contain_text("Graphic injury in the corner")
    expect(item).to_contain_text("Violence or gore")
    wait_for_js(page, "document.querySelector('.review-thumb img').complete")
    for scheme in ("dark", "light"):
        page.emulate_media(color_scheme=scheme)
        page.screenshot(path=ARTIFACTS / f"review-queue-{scheme}.png", full_page=True)
    # Hiding without a reason says why nothing happened, in place (it once did nothing).
    item.get_by_role("button", name="Hide").click()
    expect(item.get_by_role("alert")).to_contain_text("Give a reason: the owner is shown it.")
    page.get_by_label("Reason").fill("Graphic violence is not allowed here")
    page.evaluate("window.__sameDocument = true")
    item.get_by_role("button", name="Hide").click()
    expect(item).to_contain_text("Hidden: Graphic violence is not allowed here")
    assert page.evaluate("window.__sameDocument") is True  # htmx swapped the card in place
    page.screenshot(path=ARTIFACTS / "review-queue-decided.png", full_page=True)
    page.context.close()

    # The owner reads why on the image's page.
    page = as_user(browser, app, owner.username, OWNER_PASSWORD)
    page.goto(url)
    notice = page.get_by_test_id("moderation-notice")
    expect(notice).to_contain_text("Hidden by a moderator: Graphic violence is not allowed here")
    for scheme in ("light", "dark"):
        page.emulate_media(color_scheme=scheme)
        page.screenshot(path=ARTIFACTS / f"owner-notice-{scheme}.png", full_page=True)
    page.context.close()

    # Anyone else: gone.
    response = pages["rita"].goto(url)
    assert response.status == 404
    for page in pages.values():
        page.context.close()
