"""The main flow in French in a real browser (Accept-Language fr), then the picker to German."""

import re

import pytest
from playwright.sync_api import expect

from tests.a11y import axe_violations
from tests.conftest import wait_for_js
from tests.test_browser import ARTIFACTS, app, worker  # noqa: F401 (fixtures)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def browser_context_args(browser_context_args):
    # Playwright's locale sets the browser's Accept-Language and navigator.language.
    return {**browser_context_args, "locale": "fr-FR"}


def test_main_flow_in_french_then_german(app, page, owner):  # noqa: F811
    ARTIFACTS.mkdir(exist_ok=True)
    page.goto(app + "/accounts/login/")
    expect(page.locator("html")).to_have_attribute("lang", "fr")
    page.get_by_label("Nom d’utilisateur").fill("ada")
    page.get_by_label("Mot de passe").fill("ada-password-123")
    page.get_by_role("button", name="Se connecter").click()
    expect(page.get_by_role("button", name="Se déconnecter", include_hidden=True)).to_be_attached()
    expect(page.get_by_text("Pas encore d’image")).to_be_visible()

    page.get_by_label("Prompt", exact=True).fill("Un phare la nuit, des étoiles sur la mer")
    page.get_by_role("button", name="Générer").click()
    tile = page.locator("#grid .tile-live").first
    expect(tile).to_be_visible()
    tile.locator("a").click()
    expect(page).to_have_url(re.compile(r"/g/[a-z0-9]+/$"))
    expect(page.locator("figure.artwork img")).to_be_visible(timeout=20_000)
    expect(page.get_by_test_id("status")).to_have_text("Terminée")
    expect(page.get_by_text("Télécharger l’original")).to_be_visible()
    expect(page.get_by_text("Créée le")).to_be_visible()
    months = "janvier|février|mars|avril|mai|juin|juillet|août|septembre|octobre|novembre|décembre"
    expect(page.locator(".facts time")).to_have_text(re.compile(rf"^\d{{1,2}} ({months}) \d{{4}}"))
    # The JavaScript strings come from the French catalog too.
    wait_for_js(page, "typeof gettext === 'function'")
    assert page.evaluate("gettext('Copied')") == "Copié"
    page.screenshot(path=ARTIFACTS / "viewer-fr.png")
    # Longer French labels must not break the page's accessibility (light and dark).
    for scheme in ("light", "dark"):
        page.emulate_media(color_scheme=scheme)
        assert axe_violations(page) == [], scheme

    page.get_by_label("Langue").select_option("de")
    page.get_by_role("button", name="Changer").click()
    expect(page.locator("html")).to_have_attribute("lang", "de")
    expect(page.get_by_test_id("status")).to_have_text("Fertig")
    expect(page.get_by_text("Original herunterladen")).to_be_visible()
    expect(page.locator(".facts time")).to_have_text(re.compile(r"^\d{1,2}\. \w+ \d{4}"))
    page.goto(app + "/")
    expect(page.locator("html")).to_have_attribute("lang", "de")
    expect(page.get_by_role("button", name="Generieren")).to_be_visible()
    assert axe_violations(page) == []
