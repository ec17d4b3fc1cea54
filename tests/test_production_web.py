"""Production web concerns: the Content-Security-Policy (and no inline script to break it),
the static files (hashed imports between the ES modules, the icon sprite), /healthz,
structured logs with request ids, and the media view's serving modes (streamed,
X-Accel-Redirect for nginx, X-Sendfile for Apache)."""

import json
import logging
import posixpath
import re
from pathlib import Path

import pytest
from django.core.management import call_command
from django.test import Client
from pythonjsonlogger.json import JsonFormatter

from gallery import logcontext
from gallery.models import Generation, Preferences
from tests.factories import signed_in

pytestmark = [pytest.mark.web, pytest.mark.django_db]
ROOT = Path(__file__).resolve().parent.parent


# --- Content-Security-Policy ----------------------------------------------------------------


def _policy(response) -> dict[str, list[str]]:
    header = response["Content-Security-Policy"]
    return {d.split()[0]: d.split()[1:] for d in header.split(";") if d.strip()}


def test_every_page_carries_a_policy_without_inline_script(client, finished):
    policy = _policy(client.get("/"))
    assert policy["default-src"] == ["'self'"]
    assert policy["script-src"] == ["'self'"]  # no 'unsafe-inline', no 'unsafe-eval'
    assert policy["style-src"] == ["'self'"]
    assert policy["style-src-attr"] == ["'unsafe-inline'"]  # the tiles' --ph colours only
    assert policy["img-src"] == ["'self'", "data:"]
    assert policy["object-src"] == ["'none'"]
    assert policy["frame-ancestors"] == ["'none'"]
    assert (policy["base-uri"], policy["form-action"]) == (["'self'"], ["'self'"])


_INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.IGNORECASE)
_HANDLER = re.compile(r"<[^>]+\son[a-z]+\s*=", re.IGNORECASE)
_JS_URL = re.compile(r"""(href|src|action)\s*=\s*["']?\s*javascript:""", re.IGNORECASE)


@pytest.mark.parametrize("path", sorted((ROOT / "templates").rglob("*.html")), ids=str)
def test_no_template_has_inline_script_or_event_handlers(path):
    text = path.read_text()
    assert not _INLINE_SCRIPT.search(text), "inline <script>: move it to static/ (CSP)"
    assert not _HANDLER.search(text), "on* attribute: use addEventListener in a static file"
    assert not _JS_URL.search(text)


def test_rendered_pages_have_no_inline_script_or_event_handlers(client, owner, finished):
    client.force_login(owner)
    pages = ["/", finished.get_absolute_url(), "/accounts/login/", "/no-such-page"]
    for url in pages:
        html = client.get(url).content.decode()
        assert not _INLINE_SCRIPT.search(html), url
        assert not _HANDLER.search(html), url
        assert "<style" not in html, url  # style-src has no 'unsafe-inline' for elements


# --- Static files ---------------------------------------------------------------------------


def test_collected_modules_import_one_another_by_their_hashed_names(settings, tmp_path):
    """collectstatic with the production storage: every relative import between the gallery's
    ES modules names the hashed copy of its target, which the manifest holds."""
    settings.STATIC_ROOT = tmp_path
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "config.storage.StaticStorage"},
    }
    call_command("collectstatic", interactive=False, verbosity=0)
    paths = json.loads((tmp_path / "staticfiles.json").read_text())["paths"]
    modules = {name: hashed for name, hashed in paths.items() if name.startswith("gallery/js/")}
    assert "gallery/js/main.js" in modules
    specifier = re.compile(r'\b(?:from|import)\s*"(\.{1,2}/[^"]+)"')
    imports = 0
    for name, hashed in modules.items():
        for url in specifier.findall((tmp_path / hashed).read_text()):
            target = posixpath.normpath(posixpath.join(posixpath.dirname(name), url))
            assert target in modules.values(), f"{hashed} imports {url}"
            assert (tmp_path / target).is_file()
            imports += 1
    assert imports >= 8  # main.js alone imports eight modules


def test_every_icon_the_templates_draw_is_a_symbol_of_the_sprite():
    symbols = set(
        re.findall(r'<symbol id="([^"]+)"', (ROOT / "static/gallery/icons.svg").read_text())
    )
    templates = "".join(path.read_text() for path in (ROOT / "templates").rglob("*.html"))
    names = re.findall(r"""icons\.svg' %\}#([a-z-]+)"></use>""", templates)
    assert len(names) == templates.count("icons.svg' %}#")  # every use of the sprite read
    assert names and set(names) <= symbols, set(names) - symbols
    pasted = re.search(r"<(path|circle|rect)\b", templates)
    assert not pasted, "an icon pasted into a template: add it to static/gallery/icons.svg"


# --- /healthz -------------------------------------------------------------------------------


def test_healthz_reports_database_storage_and_the_queue(client, media_root):
    Generation.objects.create(prompt="waiting", queued_at="2020-01-01T00:00:00Z")
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response["Cache-Control"].startswith("max-age=0")
    body = response.json()
    assert body["status"] == "ok" and body["database"] and body["storage"]
    assert body["queued"] == 1
    assert body["oldest_queued_seconds"] > 3600
    assert list(media_root.rglob("*.txt")) == []  # the probe file is removed


def test_healthz_is_503_when_storage_is_not_writable(client, settings, tmp_path):
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the media folder should be")
    settings.MEDIA_ROOT = blocker
    response = client.get("/healthz")
    assert response.status_code == 503
    body = response.json()
    assert (body["status"], body["database"], body["storage"]) == ("unavailable", True, False)
    assert str(tmp_path) not in response.content.decode()  # no paths, no secrets


def test_healthz_says_nothing_secret(client, settings, media_root):
    settings.OVH_AI_ENDPOINTS_ACCESS_TOKEN = "s3cret-token"
    text = client.get("/healthz").content.decode()
    assert "s3cret-token" not in text and settings.SECRET_KEY not in text


# --- Structured logs ------------------------------------------------------------------------


def test_each_response_carries_a_request_id_and_a_sane_incoming_one_is_kept(client):
    made = client.get("/healthz")["X-Request-ID"]
    assert re.fullmatch(r"[0-9a-f]{32}", made)
    assert client.get("/healthz", HTTP_X_REQUEST_ID="lb-1234abcd")["X-Request-ID"] == (
        "lb-1234abcd"
    )
    injected = client.get("/healthz", HTTP_X_REQUEST_ID="x\nfake log line")["X-Request-ID"]
    assert "\n" not in injected and injected != "x\nfake log line"


def _json_lines(records) -> list[dict]:
    formatter = JsonFormatter(
        "%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s %(generation)s"
    )
    return [json.loads(formatter.format(record)) for record in records]


def test_json_log_lines_carry_the_request_id(client, caplog, settings):
    caplog.set_level(logging.WARNING)
    caplog.handler.addFilter(logcontext.ContextFilter())
    response = client.get("/no-such-page")  # Django logs "Not Found" at WARNING
    lines = _json_lines(caplog.records)
    assert any(
        line["request_id"] == response["X-Request-ID"] and "Not Found" in line["message"]
        for line in lines
    )


def test_pipeline_log_lines_carry_the_generation_and_never_the_token(
    client_for, standin, media_root, caplog
):
    from gallery.services import endpoint, worker

    caplog.set_level(logging.DEBUG)
    caplog.handler.addFilter(logcontext.ContextFilter())
    standin.script("500", "401")
    item = Generation.objects.create(prompt="a moth", queued_at="2024-01-01T00:00:00Z")
    worker.run(
        item.pk,
        client=client_for(token="s3cret-token"),
        policy=endpoint.RetryPolicy(max_attempts=2, base_delay=0, max_delay=0),
        sleep=lambda s: None,
    )
    lines = _json_lines(caplog.records)
    ours = [line for line in lines if line.get("name", "").startswith("gallery")]
    assert ours and all(line["generation"] == item.public_id for line in ours)
    assert "s3cret-token" not in caplog.text
    assert all("s3cret-token" not in json.dumps(line) for line in lines)


def test_the_json_format_is_what_the_settings_configure():
    from django.conf import settings

    formatter = settings.LOGGING["formatters"]["json"]
    assert formatter["()"] == "pythonjsonlogger.json.JsonFormatter"
    assert "request_id" in formatter["fmt"] and "generation" in formatter["fmt"]


# --- Media serving modes --------------------------------------------------------------------


@pytest.fixture
def owner_client(finished, owner):
    finished.owner = owner
    finished.visibility = Generation.Visibility.PRIVATE
    finished.save()
    return signed_in(owner)


def test_streamed_by_default(owner_client, finished, media_root):
    response = owner_client.get(finished.original_url)
    assert response.status_code == 200
    finished.refresh_from_db()  # the original leaves as its signed copy, stored on first use
    signed = (media_root / finished.signed_original.name).read_bytes()
    assert b"".join(response.streaming_content) == signed
    assert response["Cache-Control"] == "private, no-cache"
    thumb = owner_client.get(finished.thumbnail_url)
    assert b"".join(thumb.streaming_content) == (media_root / finished.thumbnail.name).read_bytes()
    assert thumb["Cache-Control"] == "private, max-age=31536000, immutable"


def test_nginx_mode_hands_the_file_to_an_internal_location(
    owner_client, finished, settings, media_root
):
    settings.GALLERY_MEDIA_ACCEL = "nginx"
    settings.GALLERY_MEDIA_ACCEL_PREFIX = "/protected-media/"
    # The original leaves as its signed copy (with the prompt, as the owner allows), a stored
    # file like the others: nginx sends it.
    embedded = owner_client.get(finished.original_url + "?download=1")
    finished.refresh_from_db()
    assert embedded["X-Accel-Redirect"] == f"/protected-media/{finished.signed_original.name}"
    assert b"Generated with" in (media_root / finished.signed_original.name).read_bytes()
    # Without embedding, another copy, without the prompt.
    Preferences.objects.update_or_create(user=finished.owner, defaults={"embed_metadata": False})
    response = owner_client.get(finished.original_url + "?download=1")
    assert response.status_code == 200
    finished.refresh_from_db()
    assert response["X-Accel-Redirect"] == f"/protected-media/{finished.signed_original.name}"
    assert b"Generated with" not in (media_root / finished.signed_original.name).read_bytes()
    assert response.content == b""
    assert response["Content-Type"] == "image/jpeg"
    assert response["Content-Disposition"] == f'attachment; filename="{finished.public_id}.jpg"'
    assert response["Cache-Control"] == "private, no-cache"
    thumb = owner_client.get(finished.thumbnail_url)
    assert thumb["Content-Type"] == "image/webp"
    assert thumb["Content-Disposition"].startswith("inline;")


def test_apache_mode_sends_the_files_path(owner_client, finished, settings, media_root):
    settings.GALLERY_MEDIA_ACCEL = "apache"
    response = owner_client.get(finished.thumbnail_url)
    assert response.status_code == 200
    assert response["X-Sendfile"] == str(media_root / finished.thumbnail.name)
    assert response.content == b""
    assert response["Content-Type"] == "image/webp"


@pytest.mark.parametrize("mode", ["", "nginx", "apache"])
def test_every_mode_authorises_first(finished, settings, mode, owner_client, other_user):
    settings.GALLERY_MEDIA_ACCEL = mode
    other = signed_in(other_user)
    for client in (other, Client()):
        response = client.get(finished.original_url)
        assert response.status_code == 404
        assert "X-Accel-Redirect" not in response and "X-Sendfile" not in response
