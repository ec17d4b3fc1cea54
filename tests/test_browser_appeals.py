"""Appeals in a real browser: the owner of a hidden image appeals with a note, a moderator
grants it in the review queue, and the owner reads the decision on the image's page."""

import pytest
from playwright.sync_api import expect

from gallery.models import Appeal, Generation, ModerationEvent
from gallery.services import moderation
from tests.factories import MODERATOR_PASSWORD, OWNER_PASSWORD
from tests.test_browser import ARTIFACTS, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1440, "height": 900}


@pytest.fixture
def app(live_server, media_root):
    return live_server.url


def _as(browser, app: str, username: str, password: str, viewport=DESKTOP, scheme="light"):
    context = browser.new_context(color_scheme=scheme, viewport=viewport)
    page = context.new_page()
    sign_in(page, app, username, password)
    return page


def _fits(page) -> None:
    assert page.evaluate("document.documentElement.scrollWidth <= innerWidth")


def test_the_owner_appeals_and_reads_the_moderator_s_decision(
    app, browser, finished, owner, moderator
):
    ARTIFACTS.mkdir(exist_ok=True)
    Generation.objects.filter(pk=finished.pk).update(owner=owner)
    finished.refresh_from_db()
    moderation.hide(finished, actor=moderator, reason="Looks like an advert")
    url = app + finished.get_absolute_url()

    # The owner, on a phone, appeals with a note.
    page = _as(browser, app, owner.username, OWNER_PASSWORD, viewport=PHONE, scheme="dark")
    page.goto(url)
    notice = page.get_by_test_id("moderation-notice")
    expect(notice).to_contain_text("Hidden by a moderator: Looks like an advert")
    page.get_by_text("Appeal this decision").click()
    page.get_by_label("Why should a moderator look again?").fill(
        "It is a poster I painted myself, no brand in it."
    )
    page.screenshot(path=ARTIFACTS / "appeal-form-phone-dark.png", full_page=True)
    _fits(page)
    page.get_by_role("button", name="Send appeal").click()
    expect(page.get_by_text("Your appeal was sent")).to_be_visible()
    expect(page.get_by_test_id("appeal-state")).to_contain_text("You appealed")
    expect(page.get_by_text("Appeal this decision")).to_have_count(0)
    page.context.close()
    assert Appeal.objects.filter(generation=finished, decided_at__isnull=True).count() == 1

    # The moderator finds it in the review queue and grants it, in place.
    page = _as(browser, app, moderator.username, MODERATOR_PASSWORD)
    page.get_by_role("link", name="Review").click()
    item = page.get_by_test_id("review-item")
    expect(item).to_have_count(1)
    expect(item.get_by_test_id("review-appeal")).to_contain_text("a poster I painted myself")
    for scheme in ("light", "dark"):
        page.emulate_media(color_scheme=scheme)
        page.screenshot(path=ARTIFACTS / f"review-appeal-{scheme}.png", full_page=True)
    page.get_by_label("Reason").fill("Agreed: no advert here, sorry")
    item.get_by_role("button", name="Grant appeal").click()
    expect(item).to_contain_text("Appeal granted: Agreed: no advert here, sorry")
    page.set_viewport_size(PHONE)
    page.goto(app + "/moderation/")
    _fits(page)
    page.context.close()

    # The owner's image is back, with the decision.
    page = _as(browser, app, owner.username, OWNER_PASSWORD)
    page.goto(url)
    expect(page.get_by_test_id("moderation-notice")).to_have_count(0)
    expect(page.get_by_test_id("appeal-state")).to_contain_text(
        "Appeal granted: Agreed: no advert here, sorry"
    )
    page.screenshot(path=ARTIFACTS / "appeal-granted-owner.png", full_page=True)
    page.context.close()
    event = ModerationEvent.objects.filter(generation=finished).first()
    assert event.action == ModerationEvent.Action.GRANT and event.actor == moderator
    assert Generation.objects.get(pk=finished.pk).moderation == "visible"
