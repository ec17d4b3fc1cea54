"""API tokens: the service (hashed, authenticated, revoked, last use kept), the settings page
that makes, lists and revokes them, the admin, `manage.py issue_token` (its real command line
in tests/test_cli_processes.py), and that a token never reaches a log, the database or the
session."""

import logging
import re
from datetime import timedelta
from io import StringIO

import pytest
from django.contrib.sessions.models import Session
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from django.db import connection
from django.test import Client
from django.utils import timezone

from accounts import tokens
from accounts.models import ApiToken
from tests.factories import signed_in

pytestmark = [pytest.mark.web, pytest.mark.django_db]

TOKEN_RE = re.compile(r"sdxlg_[A-Za-z0-9_-]{43}")


def all_rows_text() -> str:
    """Every token row and every session, as text: where a leaked token would show."""
    rows = list(ApiToken.objects.values_list())
    sessions = [s.get_decoded() for s in Session.objects.all()]
    return repr(rows) + repr(sessions)


def create_on_page(client: Client, name: str) -> tuple[str, str]:
    """Create a token on the page; returns the token shown and the page."""
    response = client.post("/accounts/tokens/", {"name": name})
    assert response.status_code == 200
    page = response.content.decode()
    shown = TOKEN_RE.findall(page)
    assert shown, "the new token is not on the page"
    return shown[0], page


# --- the service ----------------------------------------------------------------------------


def test_only_a_digest_is_stored_and_the_token_authenticates_its_owner(owner):
    token, raw = tokens.issue(owner, "laptop script")
    assert TOKEN_RE.fullmatch(raw)
    assert raw not in all_rows_text()
    assert token.digest == tokens.digest(raw) and token.prefix == raw[:12]
    assert tokens.authenticate(raw).user == owner
    other = tokens.issue(owner, "laptop script")[1]
    assert other != raw


@pytest.mark.parametrize(
    ("raw", "error", "status"),
    [
        ("", tokens.TokenMissing, 401),
        ("sdxlg_not-a-token", tokens.TokenInvalid, 401),
        ("Bearer", tokens.TokenInvalid, 401),
    ],
)
def test_missing_or_unknown_tokens_are_401_and_do_not_echo_the_token(raw, error, status):
    with pytest.raises(error) as caught:
        tokens.authenticate(raw)
    assert caught.value.status == status
    assert not raw or raw not in caught.value.message


def test_a_revoked_token_or_a_disabled_account_is_403(owner):
    token, raw = tokens.issue(owner, "old")
    tokens.revoke(token)
    tokens.revoke(token)  # twice changes nothing
    with pytest.raises(tokens.TokenRevoked) as caught:
        tokens.authenticate(raw)
    assert caught.value.status == 403

    _, raw = tokens.issue(owner, "still active")
    owner.is_active = False
    owner.save()
    with pytest.raises(tokens.AccountDisabled) as caught:
        tokens.authenticate(raw)
    assert caught.value.status == 403
    with pytest.raises(ValidationError):
        tokens.issue(owner, "new")


def test_last_used_is_written_at_most_once_a_minute(owner, django_assert_num_queries):
    token, raw = tokens.issue(owner, "busy script")
    assert token.last_used_at is None
    tokens.authenticate(raw)
    first = ApiToken.objects.get().last_used_at
    assert first is not None

    with django_assert_num_queries(1):  # the lookup; no UPDATE
        tokens.authenticate(raw)
    assert ApiToken.objects.get().last_used_at == first

    a_while_ago = timezone.now() - tokens.LAST_USED_RESOLUTION - timedelta(seconds=1)
    ApiToken.objects.update(last_used_at=a_while_ago)
    tokens.authenticate(raw)
    assert ApiToken.objects.get().last_used_at > a_while_ago


def test_names_are_required_and_active_tokens_are_capped(owner, monkeypatch):
    with pytest.raises(ValidationError):
        tokens.issue(owner, "   ")
    monkeypatch.setattr(tokens, "MAX_TOKENS_PER_USER", 2)
    tokens.issue(owner, "one")
    revoked, _ = tokens.issue(owner, "two")
    with pytest.raises(ValidationError, match="Revoke one"):
        tokens.issue(owner, "three")
    tokens.revoke(revoked)
    tokens.issue(owner, "three")


def test_the_list_keeps_revoked_tokens_for_a_while_then_hides_them(owner, other_user):
    tokens.issue(owner, "active")
    recent, _ = tokens.issue(owner, "revoked lately")
    old, _ = tokens.issue(owner, "revoked long ago")
    tokens.revoke(recent)
    tokens.revoke(old)
    long_ago = timezone.now() - tokens.REVOKED_LISTED_FOR - timedelta(days=1)
    ApiToken.objects.filter(pk=old.pk).update(revoked_at=long_ago)
    tokens.issue(other_user, "not ada's")
    assert [t.name for t in tokens.for_user(owner)] == ["revoked lately", "active"]


# --- the page -------------------------------------------------------------------------------


def test_signing_in_is_needed(client):
    for response in (client.get("/accounts/tokens/"), client.post("/accounts/tokens/1/revoke/")):
        assert response.status_code == 302
        assert response.url.startswith("/accounts/login/?next=")
    assert not ApiToken.objects.exists()


def test_the_account_page_links_to_the_tokens_page(owner):
    page = signed_in(owner).get("/accounts/").content.decode()
    assert 'href="/accounts/tokens/"' in page


def test_a_new_token_is_shown_once_with_how_to_use_it(owner):
    client = signed_in(owner)
    assert "No tokens yet" in client.get("/accounts/tokens/").content.decode()

    response = client.post("/accounts/tokens/", {"name": "laptop script"})
    raw = TOKEN_RE.findall(response.content.decode())[0]
    page = response.content.decode()
    assert "Copy your token now" in page and "only time it is shown" in page
    assert 'data-copy="' + raw + '"' in page
    assert "curl -X POST http://testserver/api/text2image" in page
    assert raw not in page.split('data-testid="usage"')[1]  # the hint has a placeholder
    assert "no-store" in response["Cache-Control"]
    assert tokens.authenticate(raw).name == "laptop script"

    again = client.get("/accounts/tokens/")
    assert TOKEN_RE.search(again.content.decode()) is None
    assert "laptop script" in again.content.decode() and raw[:12] in again.content.decode()
    assert raw not in all_rows_text()


def test_the_list_shows_name_prefix_created_last_used_and_revoked(owner):
    client = signed_in(owner)
    used, raw_used = tokens.issue(owner, "chat app")
    tokens.authenticate(raw_used)
    tokens.issue(owner, "idle script")
    gone, _ = tokens.issue(owner, "old laptop")
    tokens.revoke(gone)

    page = client.get("/accounts/tokens/").content.decode()
    rows = page.split('data-testid="token-row"')[1:]
    assert len(rows) == 3
    by_name = {re.search(r'class="token-name">([^<]+)', row).group(1).strip(): row for row in rows}
    assert used.prefix + "…" in by_name["chat app"]
    assert "Last used <time" in by_name["chat app"] and "now" in by_name["chat app"]
    assert "Last used never" in by_name["idle script"]
    assert "Created <time" in by_name["idle script"]
    assert "Revoked" in by_name["old laptop"] and "Revoke…" not in by_name["old laptop"]
    assert by_name["idle script"].count("Revoke…") == 1


def test_revoking_from_the_page_stops_the_token(owner):
    client = signed_in(owner)
    raw, _ = create_on_page(client, "laptop script")
    token = ApiToken.objects.get()

    response = client.post(f"/accounts/tokens/{token.pk}/revoke/", follow=True)
    page = response.content.decode()
    assert "Token “laptop script” revoked" in page
    assert "badge-revoked" in page
    with pytest.raises(tokens.TokenRevoked):
        tokens.authenticate(raw)
    assert client.get(f"/accounts/tokens/{token.pk}/revoke/").status_code == 405


def test_another_users_token_is_a_404_and_stays_active(owner, other_user):
    theirs, raw = tokens.issue(other_user, "bob's script")
    client = signed_in(owner)
    assert client.post(f"/accounts/tokens/{theirs.pk}/revoke/").status_code == 404
    assert client.post("/accounts/tokens/999999/revoke/").status_code == 404
    assert "bob's script" not in client.get("/accounts/tokens/").content.decode()
    assert tokens.authenticate(raw).user == other_user


def test_creating_and_revoking_need_the_csrf_token(owner):
    client = signed_in(owner, enforce_csrf_checks=True)
    assert client.post("/accounts/tokens/", {"name": "forged"}).status_code == 403
    assert not ApiToken.objects.exists()

    mine, raw = tokens.issue(owner, "mine")
    assert client.post(f"/accounts/tokens/{mine.pk}/revoke/").status_code == 403
    assert tokens.authenticate(raw)

    page = client.get("/accounts/tokens/").content.decode()
    csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    data = {"csrfmiddlewaretoken": csrf}
    assert client.post("/accounts/tokens/", {**data, "name": "real"}).status_code == 200
    assert client.post(f"/accounts/tokens/{mine.pk}/revoke/", data).status_code == 302
    assert [t.name for t in ApiToken.objects.filter(revoked_at=None)] == ["real"]


def test_a_bad_name_keeps_the_page_and_makes_nothing(owner, monkeypatch):
    client = signed_in(owner)
    response = client.post("/accounts/tokens/", {"name": "  "})
    assert response.status_code == 400
    assert "This field is required." in response.content.decode()
    monkeypatch.setattr(tokens, "MAX_TOKENS_PER_USER", 0)
    response = client.post("/accounts/tokens/", {"name": "one too many"})
    assert response.status_code == 400
    assert "Revoke one you no longer use" in response.content.decode()
    assert not ApiToken.objects.exists()


def test_no_log_record_carries_the_token(owner, caplog, settings):
    settings.DEBUG = True  # so that every SQL statement is logged too
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="django.db.backends")
    connection.force_debug_cursor = True
    try:
        client = signed_in(owner)
        raw, _ = create_on_page(client, "laptop script")
        tokens.authenticate(raw)
        with pytest.raises(tokens.TokenInvalid):
            tokens.authenticate(raw + "x")
        client.post(f"/accounts/tokens/{ApiToken.objects.get().pk}/revoke/")
        with pytest.raises(tokens.TokenRevoked):
            tokens.authenticate(raw)
    finally:
        connection.force_debug_cursor = False
    assert any("accounts_apitoken" in r.getMessage() for r in caplog.records)  # it did log
    for record in caplog.records:
        assert raw not in record.getMessage() and raw not in repr(record.args)


# --- the admin ------------------------------------------------------------------------------


def test_staff_list_search_and_revoke_tokens_but_never_see_or_make_one(
    admin_client, owner, other_user
):
    mine, raw = tokens.issue(owner, "laptop script")
    tokens.issue(other_user, "bob's tool")

    page = admin_client.get("/admin/accounts/apitoken/?q=ada").content.decode()
    assert "laptop script" in page and "bob&#x27;s tool" not in page
    detail = admin_client.get(f"/admin/accounts/apitoken/{mine.pk}/change/").content.decode()
    assert mine.prefix in detail and mine.digest not in detail and raw not in detail
    assert admin_client.get("/admin/accounts/apitoken/add/").status_code == 403

    admin_client.post(
        "/admin/accounts/apitoken/",
        {"action": "revoke_tokens", "_selected_action": [mine.pk]},
    )
    with pytest.raises(tokens.TokenRevoked):
        tokens.authenticate(raw)
    assert "bob" in admin_client.get("/admin/accounts/apitoken/?state=active").content.decode()


# --- manage.py issue_token ------------------------------------------------------------------


def test_issue_token_prints_a_token_that_works(owner):
    out, err = StringIO(), StringIO()
    call_command("issue_token", "ada", "--name", "backup job", stdout=out, stderr=err)
    raw = out.getvalue().strip()
    assert TOKEN_RE.fullmatch(raw)
    assert raw not in err.getvalue() and "backup job" in err.getvalue()
    token = tokens.authenticate(raw)
    assert (token.user, token.name) == (owner, "backup job")


def test_issue_token_refuses_an_unknown_or_disabled_user(owner):
    with pytest.raises(CommandError, match="No user named 'nobody'"):
        call_command("issue_token", "nobody", stdout=StringIO())
    owner.is_active = False
    owner.save()
    with pytest.raises(CommandError, match="disabled"):
        call_command("issue_token", "ada", stdout=StringIO())
    assert not ApiToken.objects.exists()
