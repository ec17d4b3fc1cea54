"""`manage.py first_admin`: the first administrator from GALLERY_ADMIN_* (containers)."""

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import CommandError

pytestmark = [pytest.mark.unit, pytest.mark.django_db]

User = get_user_model()


@pytest.fixture
def admin_env(monkeypatch):
    monkeypatch.setenv("GALLERY_ADMIN_USERNAME", "boss")
    monkeypatch.setenv("GALLERY_ADMIN_EMAIL", "boss@example.org")
    monkeypatch.setenv("GALLERY_ADMIN_PASSWORD", "correct horse battery staple")


def test_creates_the_administrator_from_the_environment(admin_env, capsys):
    call_command("first_admin")
    user = User.objects.get()
    assert (user.username, user.email, user.is_superuser) == ("boss", "boss@example.org", True)
    assert user.check_password("correct horse battery staple")
    assert "correct horse" not in capsys.readouterr().err


def test_without_the_variables_nothing_is_made_and_setup_stays_open(monkeypatch, capsys):
    for name in ("GALLERY_ADMIN_USERNAME", "GALLERY_ADMIN_EMAIL", "GALLERY_ADMIN_PASSWORD"):
        monkeypatch.delenv(name, raising=False)
    call_command("first_admin")
    assert not User.objects.exists()
    assert "/setup/" in capsys.readouterr().err


def test_a_weak_password_is_refused_with_the_setup_pages_reason(admin_env, monkeypatch):
    monkeypatch.setenv("GALLERY_ADMIN_PASSWORD", "12345678")
    with pytest.raises(CommandError, match="password"):
        call_command("first_admin")
    assert not User.objects.exists()


def test_a_missing_variable_is_named(admin_env, monkeypatch):
    monkeypatch.delenv("GALLERY_ADMIN_EMAIL")
    with pytest.raises(CommandError, match="GALLERY_ADMIN_EMAIL"):
        call_command("first_admin")


def test_once_someone_has_an_account_the_variables_are_left_unused(admin_env):
    User.objects.create_user(username="alice", password="x")
    call_command("first_admin")
    assert list(User.objects.values_list("username", flat=True)) == ["alice"]
