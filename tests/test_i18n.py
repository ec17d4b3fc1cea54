"""Languages: English by default, French or German from the browser or the picker, the
JavaScript catalog, localised dates, and the catalogs' completeness check."""

import subprocess
import sys
from pathlib import Path

import polib
import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import override

from gallery.models import Generation

pytestmark = [pytest.mark.web, pytest.mark.django_db]

ROOT = Path(__file__).resolve().parent.parent


def test_english_stays_the_default(client):
    page = client.get("/").content.decode()
    assert '<html lang="en">' in page
    assert "Recent images" in page or "No images yet" in page


def test_accept_language_picks_french(client):
    page = client.get("/", HTTP_ACCEPT_LANGUAGE="fr-FR,fr;q=0.9,en;q=0.5").content.decode()
    assert '<html lang="fr">' in page
    assert "Que voulez-vous créer ?" in page
    assert "Connectez-vous pour générer des images" in page
    assert "What should we make?" not in page


def test_the_picker_switches_language_and_is_remembered(client):
    page = client.get("/").content.decode()
    assert 'action="/i18n/setlang/"' in page
    response = client.post(reverse("set_language"), {"language": "de", "next": "/"})
    assert response.status_code == 302 and response["Location"] == "/"
    assert response.cookies["django_language"].value == "de"
    # The cookie wins over the browser's own preference.
    page = client.get("/", HTTP_ACCEPT_LANGUAGE="fr").content.decode()
    assert '<html lang="de">' in page
    assert "Was sollen wir erschaffen?" in page
    assert '<option value="de" lang="de" selected>Deutsch</option>' in page


def test_the_picker_works_without_a_csrf_token_and_sets_no_cookie_on_a_page():
    # A signed-out page must set no cookie (it is kept in memory for every visitor), so the
    # picker carries no CSRF token and the language view does not ask for one.
    client = Client(enforce_csrf_checks=True)
    page = client.get("/")
    assert "csrftoken" not in page.cookies
    response = client.post(reverse("set_language"), {"language": "fr", "next": "/"})
    assert response.status_code == 302
    assert response.cookies["django_language"].value == "fr"


def test_the_picker_refuses_an_unknown_language_and_an_outside_next(client):
    response = client.post(
        reverse("set_language"), {"language": "xx", "next": "https://evil.example/"}
    )
    assert response.status_code == 302 and response["Location"] == "/"
    assert "django_language" not in response.cookies


def test_javascript_catalog_is_a_script_from_our_origin(client):
    page = client.get("/", HTTP_ACCEPT_LANGUAGE="fr").content.decode()
    assert '<script src="/jsi18n/"></script>' in page
    response = client.get("/jsi18n/", HTTP_ACCEPT_LANGUAGE="fr")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/javascript")
    body = response.content.decode()
    assert "Copi\\u00e9 dans le presse-papiers." in body or "Copié dans le presse-papiers." in body
    assert "n > 1" in body  # French plural rule


def test_viewer_dates_statuses_and_plurals_are_localised(client, owner):
    made = timezone.make_aware(timezone.datetime(2026, 12, 2, 14, 30))
    item = Generation.objects.create(
        owner=owner,
        prompt="un phare la nuit",
        status=Generation.Status.FAILED,
        attempts=3,
        failure_reason="The endpoint answered 500",
        failure_code="endpoint_timeout",
    )
    Generation.objects.filter(pk=item.pk).update(created_at=made)
    client.force_login(owner)
    page = client.get(item.get_absolute_url(), HTTP_ACCEPT_LANGUAGE="fr").content.decode()
    assert "2 décembre 2026" in page
    assert "La génération a échoué" in page
    assert "3 tentatives" in page
    assert ">Échouée<" in page
    assert "Le service d’images a mis trop de temps à répondre." in page
    page = client.get(item.get_absolute_url(), HTTP_ACCEPT_LANGUAGE="de").content.decode()
    assert "2. Dezember 2026" in page
    assert "3 Versuche" in page
    assert "Der Bilddienst hat zu lange für die Antwort gebraucht." in page
    with override("en"):
        assert (
            date_format(made, "DATETIME_FORMAT")
            in client.get(item.get_absolute_url()).content.decode()
        )


def test_catalogs_are_complete_and_current():
    """What `make lint` runs: French and German complete, nothing fuzzy, in step with the source."""
    done = subprocess.run(
        [sys.executable, "scripts/check_translations.py"], cwd=ROOT, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_check_names_an_untranslated_or_fuzzy_entry(tmp_path):
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        import check_translations
    finally:
        sys.path.pop(0)
    po = polib.POFile()
    po.append(polib.POEntry(msgid="Gallery", msgstr="Galerie"))
    po.append(polib.POEntry(msgid="Generate", msgstr=""))
    po.append(polib.POEntry(msgid="Cancel", msgstr="Annuler", flags=["fuzzy"]))
    path = ROOT / "locale" / "fr" / "LC_MESSAGES" / "test-only.po"
    po.save(str(path))
    try:
        found = check_translations.problems_in(path)
    finally:
        path.unlink()
    assert found == [
        "locale/fr/LC_MESSAGES/test-only.po: untranslated: 'Generate'",
        "locale/fr/LC_MESSAGES/test-only.po: fuzzy: 'Cancel'",
    ]


# --- Slice D: models and the admin ----------------------------------------------------------


def test_the_generations_admin_follows_the_language(admin_client, owner):
    Generation.objects.create(owner=owner, prompt="un phare la nuit")
    url = reverse("admin:gallery_generation_changelist")
    page = admin_client.get(url, HTTP_ACCEPT_LANGUAGE="fr").content.decode()
    for french in ("Identifiant public", "Propriétaire", "Visibilité", "Signalée", "Créé le"):
        assert f">{french}<" in page
    assert "propriétaire (nom d’utilisateur)" in page  # a filter's title
    assert "A des signalements ouverts" in page  # a filter's choice
    assert "Approuver (ou rétablir) les images sélectionnées" in page  # an action
    assert ">Owner<" not in page and "Has open reports" not in page
    page = admin_client.get(url, HTTP_ACCEPT_LANGUAGE="de").content.decode()
    assert ">Besitzer<" in page and "Hat offene Meldungen" in page
    page = admin_client.get(url).content.decode()
    assert ">Owner<" in page and ">Public id<" in page and "owner (username)" in page


def test_choice_labels_and_model_errors_are_translated(owner):
    from django.core.exceptions import ValidationError

    from gallery.models import Collection, Report

    item = Generation(prompt="x", status=Generation.Status.FAILED)
    report = Report(category=Report.Category.VIOLENCE)
    with override("fr"):
        assert item.get_status_display() == "Échouée"
        assert report.get_category_display() == "Violence ou contenu choquant"
        with pytest.raises(ValidationError) as caught:
            Collection(owner=owner, name="  ").clean()
        assert caught.value.message_dict["name"] == ["Donnez un nom à la collection."]
    with override("de"):
        assert report.get_category_display() == "Gewalt oder blutige Inhalte"
    assert item.get_status_display() == "Failed"
