"""Languages: English by default, French or German from the browser or the picker, the
JavaScript catalog, localised dates, and the catalogs' completeness check."""

import json
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


# --- Slice A: the studio page, the detail page and the page frame ----------------------------


def test_detail_page_moderation_notice_report_and_navigation_are_translated(owner, other_user):
    from tests import factories

    hidden = factories.make_done(
        "un phare la nuit",
        owner=owner,
        moderation=Generation.Moderation.HIDDEN,
        moderation_reason="Symboles haineux",
        moderated_at=timezone.now(),
    )
    client = Client()
    client.force_login(owner)
    page = client.get(hidden.get_absolute_url(), HTTP_ACCEPT_LANGUAGE="fr").content.decode()
    assert "Masquée par un modérateur :" in page
    assert "seuls vous et les modérateurs pouvez la voir" in page
    assert "← Retour à la galerie" in page
    assert 'aria-label="Parcourir la galerie"' in page
    assert "Hidden by a moderator" not in page
    assert "Back to the gallery" not in page

    visible = factories.make_done("ein Leuchtturm", owner=owner)
    client.force_login(other_user)
    page = client.get(visible.get_absolute_url(), HTTP_ACCEPT_LANGUAGE="de").content.decode()
    assert "Dieses Bild melden" in page
    assert "Meldung senden" in page
    assert "Report this image" not in page
    assert "Send report" not in page


def test_verify_page_and_not_found_page_are_translated(client):
    page = client.get(reverse("gallery:verify"), HTTP_ACCEPT_LANGUAGE="fr").content.decode()
    assert "Fichier image : JPEG, PNG ou WebP, jusqu’à" in page
    assert "Vérifier le fichier" in page
    assert "Check the file" not in page
    missing = client.get("/no-such-page/", HTTP_ACCEPT_LANGUAGE="fr")
    assert missing.status_code == 404
    page = missing.content.decode()
    assert "Il n’y a rien ici" in page
    assert "Retour à la galerie" in page
    assert "Nothing here" not in page


# --- Slice B: tiles, history, collections, preferences ---------------------------------------


def test_history_and_its_queue_place_in_french(owner, no_limits):
    from tests.factories import make_done, make_failed, signed_in

    make_done("a heron", owner=owner, visibility=Generation.Visibility.PRIVATE)
    make_failed(owner=owner)
    for prompt in ("first", "second", "third"):
        Generation.objects.create(prompt=prompt, owner=owner)
    page = signed_in(owner).get("/history", HTTP_ACCEPT_LANGUAGE="fr").content.decode()
    assert "<h1>Mon historique</h1>" in page
    assert "Tout sélectionner sur cette page" in page and "Select all on this page" not in page
    assert ">Réessayer</button>" in page and ">Retry</button>" not in page
    assert "2 devant · commence" in page and "(estimation)" in page
    assert " ahead · " not in page and "(estimate)" not in page
    assert "Dans la visionneuse : taille réelle (100 %) ou ajustée" in page  # %% restored


def test_stars_tiles_and_collections_in_german(owner, no_limits):
    from gallery.services import collections
    from tests.factories import make_done, signed_in

    item = make_done("a heron", owner=owner)
    album = collections.create(owner, name="Birds")
    collections.add(owner, album, [item])
    client = signed_in(owner)
    grid = client.get("/", HTTP_ACCEPT_LANGUAGE="de").content.decode()
    assert 'aria-label="Markieren" title="Dieses Bild markieren"' in grid
    assert 'title="Star this image"' not in grid
    page = client.get(album.get_absolute_url(), HTTP_ACCEPT_LANGUAGE="de").content.decode()
    assert 'title="Aus dieser Sammlung entfernen"' in page and "← Ihre Sammlungen" in page
    assert "Remove from this collection" not in page
    listing = client.get(reverse("gallery:collections"), HTTP_ACCEPT_LANGUAGE="de").content.decode()
    assert "Neue Sammlung" in listing and "New collection" not in listing


# Slice C: the scripts' strings (static/gallery/js), through the JavaScript catalog.


def _js_catalog(client, language):
    body = client.get("/jsi18n/", HTTP_ACCEPT_LANGUAGE=language).content.decode()
    if "newcatalog = " not in body:
        return {}  # English, the source: nothing to translate
    start = body.index("newcatalog = ") + len("newcatalog = ")
    catalog, _ = json.JSONDecoder().raw_decode(body, start)
    return catalog


def test_the_scripts_counts_positions_and_toggles_are_in_french_and_german(client):
    fr = _js_catalog(client, "fr")
    assert fr["%(count)s image queued."] == [
        "%(count)s image mise en file d’attente.",
        "%(count)s images mises en file d’attente.",
    ]
    assert fr["%(count)s selected"] == ["%(count)s sélectionnée", "%(count)s sélectionnées"]
    assert fr["%(index)s of %(total)s"] == "%(index)s sur %(total)s"
    assert fr["long prompt\x04more"] == "plus" and fr["long prompt\x04less"] == "moins"
    assert fr["Example of the %(name)s style"] == "Exemple du style %(name)s"
    assert fr["%(count)s image finished in the gallery."][1] == (
        "%(count)s images terminées dans la galerie."
    )
    de = _js_catalog(client, "de")
    assert de["%(index)s of %(total)s"] == "%(index)s von %(total)s"
    assert de["long prompt\x04more"] == "mehr"
    assert de["%(count)s image queued."][1] == "%(count)s Bilder in die Warteschlange gestellt."
    # English stays the source: the scripts show their msgids as they are.
    assert "%(index)s of %(total)s" not in _js_catalog(client, "en")


# --- Services and what they tell users (refusals, limits, estimates) -------------------------


def test_what_the_services_refuse_is_said_in_the_visitors_language(client, owner, no_limits):
    no_limits.GALLERY_DAILY_QUOTA = 1
    client.force_login(owner)
    blank = client.post("/generate", {"prompt": "   "}, HTTP_ACCEPT_LANGUAGE="de").content.decode()
    assert "Beschreiben Sie das gewünschte Bild." in blank
    assert "Describe the image you want." not in blank
    assert client.post("/generate", {"prompt": "a red fox"}).status_code == 302
    refused = client.post("/generate", {"prompt": "a red fox"}, HTTP_ACCEPT_LANGUAGE="fr")
    page = refused.content.decode()
    assert refused.status_code == 400
    assert "Vous avez utilisé votre quota de 1 image pour aujourd’hui." in page
    assert "You have used all" not in page
    closed = Client().get("/accounts/signup/", HTTP_ACCEPT_LANGUAGE="fr").content.decode()
    assert "Les inscriptions sont fermées sur cette galerie" in closed
    assert "Sign-up is closed" not in closed


def test_service_words_follow_the_active_language(settings):
    from django.core.exceptions import ValidationError

    from gallery.services import intake, queue, sharing

    soon = queue.Place(ahead=0, starts_in=12)
    too_long = "x" * (settings.GALLERY_PROMPT_MAX_LENGTH + 1)
    with override("fr"):
        assert soon.starts_in_words == "dans environ 15 s"
        with pytest.raises(ValidationError) as refused:
            intake.validate_prompt(too_long)
        assert refused.value.message_dict["prompt"][0].startswith("Le prompt ne doit pas dépasser")
    with override("de"):
        assert queue.Place(ahead=0, starts_in=2).starts_in_words == "jeden Moment"
        assert str(sharing.REFUSED) == "Falsches Passwort."
    with override("en"):  # English stays the source
        assert soon.starts_in_words == "in about 15 s"
        assert str(sharing.REFUSED) == "Wrong password."


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


# The blocklist's own refusal and the admin's section names


def test_the_admin_refuses_a_bad_pattern_in_french(admin_client):
    response = admin_client.post(
        reverse("admin:gallery_blockedterm_add"),
        {"term": "[a-", "kind": "pattern", "reason": "x", "active": "on"},
        HTTP_ACCEPT_LANGUAGE="fr",
    )
    page = response.content.decode()
    assert "Expression régulière non valide" in page
    assert "Not a valid regular expression" not in page
    index = admin_client.get(reverse("admin:index"), HTTP_ACCEPT_LANGUAGE="de").content.decode()
    assert ">Konten<" in index  # the accounts app's section


def test_a_system_hold_reads_in_the_owners_language_and_a_moderators_words_as_typed(owner):
    from gallery.services import visibility
    from tests import factories

    Moderation = Generation.Moderation
    made_public = factories.make_done(
        "un phare", owner=owner, moderation=Moderation.PENDING,
        moderation_reason=visibility.REVIEW_REASON,
    )  # fmt: skip
    typed = factories.make_done(
        "un phare", owner=owner, moderation=Moderation.HIDDEN,
        moderation_reason="Made public by mistake", moderated_at=timezone.now(),
    )  # fmt: skip
    client = Client()
    client.force_login(owner)
    page = client.get(made_public.get_absolute_url(), HTTP_ACCEPT_LANGUAGE="fr").content.decode()
    assert "Rendue publique par son propriétaire : en attente d’un modérateur." in page
    assert "Made public by its owner" not in page
    page = client.get(typed.get_absolute_url(), HTTP_ACCEPT_LANGUAGE="fr").content.decode()
    assert "Made public by mistake" in page
