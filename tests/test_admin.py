"""The admin uses the same services as the site."""

import pytest
from django.urls import reverse

from gallery.models import Generation
from tests.conftest import stored_files

pytestmark = [pytest.mark.web, pytest.mark.django_db]


def test_admin_list_and_change_pages_show_previews(admin_client, finished):
    listing = admin_client.get(reverse("admin:gallery_generation_changelist")).content.decode()
    assert finished.thumbnail_url in listing
    change = admin_client.get(
        reverse("admin:gallery_generation_change", args=[finished.pk])
    ).content.decode()
    assert finished.thumbnail_2x_url in change
    assert "/storage/" not in change  # no raw storage links, only the authorising view


def test_admin_delete_removes_files(
    admin_client,
    finished,
    media_root,
    django_capture_on_commit_callbacks,
):
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(
            reverse("admin:gallery_generation_changelist"),
            {"action": "delete_selected", "_selected_action": [finished.pk], "post": "yes"},
        )
    assert response.status_code == 302
    assert not Generation.objects.exists()
    assert stored_files(media_root) == []


def test_the_generation_list_shows_a_readable_prompt(admin_client, finished):
    long = "a long and careful prompt about a lighthouse at dawn, " * 8
    Generation.objects.filter(pk=finished.pk).update(prompt=long.strip())
    listing = admin_client.get(reverse("admin:gallery_generation_changelist")).content.decode()
    assert long[:200] in listing  # far more than the 80 characters it used to show
    assert "gallery/admin.css" in listing  # which gives the column its width
