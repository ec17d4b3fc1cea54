"""In a real browser: the API tokens page. Create a token, copy it, reload (it is gone, and no
second token is made), revoke it; screenshots in light, dark and at 390 px (test-artifacts/)."""

from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from accounts import tokens
from accounts.models import ApiToken
from tests import test_browser
from tests.test_browser import ARTIFACTS, sign_in, top_link

# The browser fixtures of the main browser test: its live server, worker and stand-in.
worker = test_browser.worker
app = test_browser.app

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.mark.parametrize(
    ("variant", "options"),
    [
        ("light", {"color_scheme": "light"}),
        ("dark", {"color_scheme": "dark"}),
        ("mobile", {"color_scheme": "light", "viewport": {"width": 390, "height": 844}}),
    ],
)
def test_create_copy_and_revoke_a_token(app, browser, owner, variant, options):
    ARTIFACTS.mkdir(exist_ok=True)
    # Earlier tokens, so that the list shows each state.
    _, raw_used = tokens.issue(owner, "Chat front-end")
    tokens.authenticate(raw_used)
    old, _ = tokens.issue(owner, "Old laptop script")
    tokens.revoke(old)
    ApiToken.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=90))

    context = browser.new_context(**options)
    context.grant_permissions(["clipboard-read", "clipboard-write"])
    page = context.new_page()

    def shot(name: str) -> None:
        page.evaluate("window.scrollTo(0, 0)")  # the sticky top bar stays at the top
        page.screenshot(path=ARTIFACTS / f"tokens-{name}-{variant}.png", full_page=True)

    sign_in(page, app, "ada", "ada-password-123")
    top_link(page, "ada").click()
    page.get_by_role("link", name="API tokens").click()
    expect(page.get_by_role("heading", name="API tokens")).to_be_visible()
    expect(page.get_by_test_id("token-row")).to_have_count(2)
    expect(page.get_by_text("Last used never")).to_have_count(0)

    page.get_by_label("Name").fill("Backup job")
    page.get_by_role("button", name="Create token").click()
    shown = page.get_by_test_id("new-token")
    expect(shown).to_be_visible()
    raw = shown.inner_text()
    assert tokens.authenticate(raw).name == "Backup job"
    expect(page.get_by_text("Last used never")).to_have_count(1)

    page.get_by_role("button", name="Copy token").click()
    expect(page.get_by_role("button", name="Copied")).to_be_visible()
    expect(page.get_by_role("status")).to_have_text("Copied to the clipboard.")
    assert page.evaluate("navigator.clipboard.readText()") == raw
    shot("new")

    page.reload()  # a plain GET now: the token is gone and nothing is posted again
    expect(page.get_by_role("heading", name="API tokens")).to_be_visible()
    expect(page.get_by_test_id("new-token")).to_have_count(0)
    assert raw not in page.content()
    assert ApiToken.objects.filter(user=owner).count() == 3

    row = page.get_by_test_id("token-row").filter(has_text="Backup job")
    row.get_by_text("Revoke…").click()
    expect(row.get_by_text("Anything using it is refused")).to_be_visible()
    shot("confirm")
    row.get_by_role("button", name="Revoke token").click()
    expect(page.get_by_text("Token “Backup job” revoked.")).to_be_visible()
    revoked = page.get_by_test_id("token-row").filter(has_text="Backup job")
    expect(revoked.get_by_text("Revoked", exact=True)).to_be_visible()
    with pytest.raises(tokens.TokenRevoked):
        tokens.authenticate(raw)
    shot("list")
    context.close()
