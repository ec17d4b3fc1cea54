"""The signed-out grid from memory (gallery/services/page_cache.py): one copy of the page per
URL for every signed-out visitor, never for a signed-in user, and gone the moment anything a
signed-out visitor sees changes, in whichever process the change is made."""

import os
import subprocess
import sys

import pytest
from django.db import connection
from django.test import Client
from django.utils import timezone

from gallery.models import Generation
from gallery.services import endpoint, media_cache, page_cache, worker
from tests.asgi_app import served
from tests.factories import signed_in
from tests.procs import ROOT

pytestmark = [pytest.mark.web, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def stamps(settings, tmp_path):
    """Both stamps in a data dir of the test's own, where another process can find them."""
    settings.GALLERY_MEDIA_STAMP = tmp_path / "media-access.stamp"
    settings.GALLERY_PAGE_STAMP = tmp_path / "page-content.stamp"
    page_cache.forget_all()
    media_cache.forget_all()
    yield tmp_path
    page_cache.forget_all()


def make(client_for, prompt: str) -> Generation:
    """A public image made by the real pipeline (the worker's own commit)."""
    item = Generation.objects.create(prompt=prompt, queued_at=timezone.now())
    worker.run(item.pk, client=client_for(), policy=endpoint.RetryPolicy(max_attempts=1))
    item.refresh_from_db()
    assert item.status == Generation.Status.SUCCEEDED
    return item


def grid(client: Client, path: str = "/", **headers) -> str:
    response = client.get(path, headers=headers)
    assert response.status_code == 200
    return response.content.decode()


def test_a_signed_out_page_is_kept_and_shares_nothing_personal(client_for, media_root):
    item = make(client_for, "a quiet harbour")
    first = Client().get("/")
    assert "a quiet harbour" in first.content.decode()
    # Written without a signal or a stamp: only a page from memory still shows the old text.
    Generation.objects.filter(pk=item.pk).update(prompt="an empty quay")
    again = Client().get("/")
    assert again.content == first.content
    assert "Set-Cookie" not in again.headers and not again.cookies
    assert {"Cookie", "HX-Request"} <= {v.strip() for v in again["Vary"].split(",")}
    assert "csrfmiddlewaretoken" not in again.content.decode()


def test_a_new_public_image_appears_at_once(client_for, media_root):
    make(client_for, "a quiet harbour")
    assert "a lighthouse at dusk" not in grid(Client())
    assert "a lighthouse at dusk" not in grid(Client())  # now from memory
    make(client_for, "a lighthouse at dusk")
    assert "a lighthouse at dusk" in grid(Client())


HIDE_IN_ANOTHER_PROCESS = """
import django
django.setup()
from django.contrib.auth import get_user_model
from gallery.models import Generation
from gallery.services import moderation
item = Generation.objects.get(public_id="{public_id}")
moderation.hide(item, actor=get_user_model().objects.get(username="mod"), reason="Off the grid.")
"""


def _other_process_env(data_dir) -> dict:
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        url = f"sqlite:///{db['NAME']}"
    else:
        url = f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "GALLERY_ENV_FILE": "",
        "GALLERY_DATA_DIR": str(data_dir),  # where its stamps are: the same files as ours
        "SECRET_KEY": "process-test-" + "k" * 40,
        "DATABASE_URL": url,
        "LOG_LEVEL": "WARNING",
    }


def test_hiding_an_image_in_another_process_removes_it_at_once(
    client_for, media_root, moderator, stamps
):
    item = make(client_for, "a quiet harbour")
    assert "a quiet harbour" in grid(Client())
    assert "a quiet harbour" in grid(Client())  # kept
    subprocess.run(
        [sys.executable, "-c", HIDE_IN_ANOTHER_PROCESS.format(public_id=item.public_id)],
        cwd=ROOT,
        env=_other_process_env(stamps),
        check=True,
        timeout=60,
    )
    assert Generation.objects.get(pk=item.pk).moderation == Generation.Moderation.HIDDEN
    assert "a quiet harbour" not in grid(Client())


def test_signed_in_pages_are_never_served_from_it_nor_kept(client_for, media_root, owner):
    make(client_for, "a quiet harbour")
    signed_out = grid(Client())
    assert 'name="prompt"' not in signed_out
    member = signed_in(owner)
    page = grid(member)
    assert 'name="prompt"' in page and "csrfmiddlewaretoken" in page  # the composer
    assert page != signed_out
    # And what a member was shown is not what the next signed-out visitor gets.
    page_cache.forget_all()
    grid(member)
    assert 'name="prompt"' not in grid(Client())


def test_each_query_string_and_the_htmx_fragment_are_entries_of_their_own(client_for, media_root):
    make(client_for, "a quiet harbour")
    make(client_for, "a lighthouse at dusk")
    everything = grid(Client(), "/")
    found = grid(Client(), "/?q=lighthouse")
    assert "a lighthouse at dusk" in found and "a quiet harbour" not in found
    assert grid(Client(), "/?q=harbour") != found
    assert grid(Client(), "/") == everything
    oldest = grid(Client(), "/?sort=oldest")
    assert oldest.index("a quiet harbour") < oldest.index("a lighthouse at dusk")
    newest = grid(Client(), "/")
    assert newest.index("a lighthouse at dusk") < newest.index("a quiet harbour")
    # The same URL as an htmx request is its own entry (a fragment, not the page).
    fragment = grid(Client(), "/?sort=oldest", HX_Request="true")
    assert fragment == grid(Client(), "/?sort=oldest", HX_Request="true")
    assert grid(Client(), "/?sort=oldest") == oldest


def test_site_settings_that_close_the_gallery_apply_at_once(client_for, media_root):
    from core.models import SiteSettings

    make(client_for, "a quiet harbour")
    assert "a quiet harbour" in grid(Client())
    site = SiteSettings.load()
    site.anonymous_browsing = False
    site.save()
    assert "a quiet harbour" not in Client().get("/", follow=True).content.decode()


# --- Answered before Django, by the web server (config/asgi.py) ---------------------------


@pytest.fixture
def django_answers(monkeypatch) -> list[str]:
    """The paths Django's own handler was asked for: what the web server did not answer."""
    from config.asgi import GalleryASGIHandler

    asked: list[str] = []
    original = GalleryASGIHandler.get_response_async

    async def counted(self, request):
        asked.append(request.path)
        return await original(self, request)

    monkeypatch.setattr(GalleryASGIHandler, "get_response_async", counted)
    return asked


def test_a_signed_out_visitor_gets_the_same_answer_without_django(
    client_for, media_root, django_answers
):
    make(client_for, "a quiet harbour")
    status, first_headers, first = served("/")
    assert status == 200 and b"a quiet harbour" in first
    status, headers, again = served("/")
    assert django_answers == ["/"]  # the second visitor never reached Django
    assert status == 200 and again == first
    # The middleware's headers, as Django sent them; only the request id is the answer's own.
    assert {k: v for k, v in headers.items() if k != "x-request-id"} == {
        k: v for k, v in first_headers.items() if k != "x-request-id"
    }
    assert headers["x-request-id"] != first_headers["x-request-id"]
    assert "content-security-policy" in headers and "x-frame-options" in headers
    assert "set-cookie" not in headers
    assert served("/", x_request_id="proxy-id-12345")[1]["x-request-id"] == "proxy-id-12345"


def test_a_cookie_or_a_token_always_reaches_django(client_for, media_root, owner, django_answers):
    make(client_for, "a quiet harbour")
    served("/")
    served("/")
    assert django_answers == ["/"]
    member = signed_in(owner)
    status, _, page = served("/", cookie=f"sessionid={member.cookies['sessionid'].value}")
    assert status == 200 and b'name="prompt"' in page  # the member's own page, the composer
    served("/", cookie="django_language=fr")
    served("/", authorization="Bearer sdxlg_not-a-token")
    assert django_answers == ["/"] * 4


def test_a_new_image_a_language_and_the_fragment_each_get_their_own_answer(
    client_for, media_root, django_answers
):
    make(client_for, "a quiet harbour")
    served("/")
    french = served("/", accept_language="fr")[2]
    assert b'lang="fr"' in french and french == served("/", accept_language="fr")[2]
    served("/", hx_request="true")  # infinite scroll's asking: an entry of its own
    served("/", hx_request="true")
    assert django_answers == ["/"] * 3
    make(client_for, "a lighthouse at dusk")  # the worker's commit bumps the stamp
    assert b"a lighthouse at dusk" in served("/")[2]
    assert b"a lighthouse at dusk" in served("/", accept_language="fr")[2]
    assert django_answers == ["/"] * 5
