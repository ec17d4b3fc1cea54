"""The studio from the server's side: submitting a batch without leaving the page, the
no-JavaScript fallback, the live tiles at the front of the grid and one polling round."""

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from gallery.models import Generation
from tests.factories import make_done, make_failed, signed_in

pytestmark = [pytest.mark.web, pytest.mark.django_db]

Status = Generation.Status
JSON = {"Accept": "application/json"}


def test_the_composers_script_gets_four_new_tiles_and_stays_on_the_page(owner, no_limits):
    response = signed_in(owner).post(
        "/generate", {"prompt": "a red kite", "count": "4", "visibility": "private"}, headers=JSON
    )

    items = response.json()["items"]
    assert len(items) == 4 and {i["status"] for i in items} == {"queued"}
    assert all('data-live="' in i["html"] and "Cancel" in i["html"] for i in items)
    rows = Generation.objects.filter(owner=owner)
    assert rows.count() == 4 and {r.visibility for r in rows} == {"private"}


def test_without_javascript_one_image_opens_its_page_and_a_batch_returns_to_the_grid(
    owner, no_limits
):
    client = signed_in(owner)
    one = client.post("/generate", {"prompt": "a red kite"})
    assert one.status_code == 302 and one["Location"].startswith("/g/")

    batch = client.post("/generate", {"prompt": "a blue kite", "count": "3"})
    assert (batch.status_code, batch["Location"]) == (302, "/")
    grid = client.get("/").content.decode()
    # Four waiting tiles at the front of the grid, each with its place in the queue.
    assert grid.count('data-status="queued"') == 4
    assert grid.count('data-testid="queue-place"') == 4


def test_a_refused_part_of_a_batch_says_why(owner, no_limits):
    no_limits.GALLERY_DAILY_QUOTA = 2
    data = (
        signed_in(owner).post("/generate", {"prompt": "a kite", "count": "4"}, headers=JSON).json()
    )
    assert len(data["items"]) == 2
    assert data["message"].startswith("2 of 4 images were queued; the other 2 were refused")


def test_an_invalid_prompt_answers_the_script_with_the_fields_errors(owner, no_limits):
    response = signed_in(owner).post("/generate", {"prompt": "   "}, headers=JSON)
    assert response.status_code == 400
    assert response.json()["errors"]["prompt"] == ["Describe the image you want."]


def test_the_grid_shows_recent_failures_with_their_reason_and_retry(owner, no_limits):
    make_failed("a kite", reason="The endpoint refused this prompt.", owner=owner)
    grid = signed_in(owner).get("/").content.decode()
    assert "The endpoint refused this prompt." in grid and ">Retry<" in grid


def test_one_polling_round_is_one_query_on_the_public_id_index(owner, no_limits):
    done = make_done("finished", owner=owner)
    running = Generation.objects.create(prompt="running", owner=owner, status=Status.RUNNING)
    client = signed_in(owner)
    client.get("/")  # the session and user are loaded the same way on every request

    with CaptureQueriesContext(connection) as queries:
        data = client.get(f"/live?ids={done.public_id},{running.public_id}").json()

    assert {i["id"]: i["status"] for i in data["items"]} == {
        done.public_id: "succeeded",
        running.public_id: "running",
    }
    ours = [q["sql"] for q in queries if "gallery_generation" in q["sql"]]
    assert len(ours) == 1
    if connection.vendor == "sqlite":  # (PostgreSQL plans a table this small as a scan)
        with connection.cursor() as cursor:
            cursor.execute("EXPLAIN QUERY PLAN " + ours[0])
            plan = " ".join(str(row) for row in cursor.fetchall())
        assert "public_id" in plan and "SCAN" not in plan.replace("SCAN CONSTANT", "")


def test_a_round_shows_nobody_elses_private_work(owner, other_user, no_limits):
    theirs = Generation.objects.create(prompt="private", owner=other_user, visibility="private")
    data = signed_in(owner).get(f"/live?ids={theirs.public_id}").json()
    assert data["items"] == []


@pytest.mark.parametrize(
    ("code", "words"),
    [
        ("endpoint_rejected", "refused this prompt. Reword it"),
        ("endpoint_auth", "tell the site's administrator"),
        ("endpoint_rate_limited", "tried again by itself"),
    ],
)
def test_a_failure_is_told_in_the_users_words_and_staff_see_the_detail(
    owner, moderator, no_limits, code, words
):
    item = make_failed(
        "a kite",
        reason="The endpoint refused the request (HTTP 400).",
        failure_code=code,
        failure_detail="HTTP 400; body 'bad'",
        owner=owner,
    )
    mine = signed_in(owner).get(item.get_absolute_url()).content.decode()
    assert words in mine.replace("&#x27;", "'")
    assert "HTTP 400" not in mine
    grid = signed_in(owner).get("/").content.decode().replace("&#x27;", "'")
    assert words in grid

    staff = signed_in(moderator).get(item.get_absolute_url()).content.decode()
    assert "The endpoint refused the request (HTTP 400)." in staff
    assert "HTTP 400; body" in staff


def test_a_worker_waiting_to_retry_says_so_in_plain_words(client_for, media_root, standin):
    from gallery.services import endpoint, worker

    standin.script("503")
    notes = []
    item = Generation.objects.create(prompt="a kite")

    def sleep(seconds):
        notes.append(Generation.objects.get(pk=item.pk).status_note)

    worker.run(
        item.pk,
        client=client_for(),
        policy=endpoint.RetryPolicy(max_attempts=2, base_delay=0, max_delay=0),
        sleep=sleep,
    )
    assert any("trying again by itself" in note for note in notes), notes


def test_a_style_preset_shapes_what_is_sent_and_the_page_shows_both(owner, no_limits):
    from gallery.models import StylePreset

    preset = StylePreset.objects.create(
        name="Watercolour",
        prompt_template="{prompt}, watercolour, soft light",
        negative_prompt="photo",
    )
    StylePreset.objects.create(name="Hidden", prompt_template="{prompt}", enabled=False)
    client = signed_in(owner)
    composer = client.get("/").content.decode()
    assert ">Watercolour<" in composer and ">Hidden<" not in composer

    client.post(
        "/generate",
        {"prompt": "a heron", "negative_prompt": "blur", "preset": str(preset.pk)},
    )

    item = Generation.objects.get()
    assert (item.prompt, item.negative_prompt) == (
        "a heron, watercolour, soft light",
        "blur, photo",
    )
    assert (item.typed_prompt, item.typed_negative_prompt) == ("a heron", "blur")
    assert (item.preset, item.preset_name) == (preset, "Watercolour")
    page = client.get(item.get_absolute_url()).content.decode()
    assert "Style: Watercolour" in page and "You typed" in page and "a heron, watercolour" in page


def test_a_preset_template_must_hold_the_prompt():
    from django.core.exceptions import ValidationError

    from gallery.models import StylePreset

    with pytest.raises(ValidationError):
        StylePreset(name="x", prompt_template="no placeholder").full_clean()


def test_the_owner_makes_an_image_private_and_a_visitor_no_longer_sees_it(
    owner, visitor, no_limits
):
    item = make_done("a fox", owner=owner)
    assert visitor.get(item.get_absolute_url()).status_code == 200

    signed_in(owner).post(f"/g/{item.public_id}/visibility", {"visibility": "private"})

    assert visitor.get(item.get_absolute_url()).status_code == 404
    assert item.public_id not in visitor.get("/").content.decode()


def test_another_user_cannot_change_who_sees_an_image(owner, other_user, no_limits):
    item = make_done("a fox", owner=owner)
    response = signed_in(other_user).post(
        f"/g/{item.public_id}/visibility", {"visibility": "private"}
    )
    assert response.status_code == 404
    item.refresh_from_db()
    assert item.visibility == "public"


def test_under_pre_moderation_making_an_image_public_enters_the_review_queue(
    owner, visitor, no_limits
):
    from core.models import SiteSettings
    from gallery.models import ModerationEvent

    site = SiteSettings.load()
    site.moderation_mode = SiteSettings.ModerationMode.PRE
    site.save()
    item = make_done("a fox", owner=owner, visibility="private")

    signed_in(owner).post(f"/g/{item.public_id}/visibility", {"visibility": "public"})

    item.refresh_from_db()
    assert (item.visibility, item.moderation) == ("public", "pending")
    assert ModerationEvent.objects.get().action == "hold"
    assert visitor.get(item.get_absolute_url()).status_code == 404


def test_my_history_makes_many_private_at_once_and_only_ones_own(owner, other_user, no_limits):
    mine = [make_done(f"mine {n}", owner=owner) for n in range(3)]
    theirs = make_done("theirs", owner=other_user)

    signed_in(owner).post(
        "/history/bulk",
        {"action": "private", "ids": [m.public_id for m in mine] + [theirs.public_id]},
    )

    assert set(Generation.objects.filter(owner=owner).values_list("visibility", flat=True)) == {
        "private"
    }
    theirs.refresh_from_db()
    assert theirs.visibility == "public"


def test_recall_offers_recent_distinct_prompts_and_starred_ones_as_typed(
    owner, other_user, no_limits
):
    from gallery.models import Favourite

    make_done("older", owner=owner)
    for _ in range(3):
        make_done("the newest", owner=owner)
    make_done(
        "a heron, watercolour", owner=owner, preset_name="Watercolour", typed_prompt="a heron"
    )
    theirs = make_done("someone else's", owner=other_user)
    Favourite.objects.create(user=owner, generation=theirs)

    data = signed_in(owner).get("/prompts/recent").json()

    assert [e["prompt"] for e in data["recent"]] == ["a heron", "the newest", "older"]
    assert [e["prompt"] for e in data["starred"]] == ["someone else's"]


def test_edit_prompt_without_javascript_fills_the_composer_with_what_was_typed(owner, no_limits):
    from gallery.models import StylePreset

    preset = StylePreset.objects.create(name="Ink", prompt_template="{prompt}, ink")
    source = make_done(
        "a heron, ink", owner=owner, preset=preset, preset_name="Ink", typed_prompt="a heron"
    )
    page = signed_in(owner).get(f"/g/{source.public_id}/again").content.decode()
    assert "a heron</textarea>" in page
    assert f'value="{source.public_id}"' in page
    assert f'<option value="{preset.pk}" selected>Ink</option>' in page


def test_more_like_this_queues_the_same_prompts_again(owner, no_limits):
    source = make_done("a heron", owner=owner, negative_prompt="blur")
    detail = signed_in(owner).get(source.get_absolute_url()).content.decode()
    assert 'data-testid="more-like-this"' in detail

    signed_in(owner).post(
        "/generate",
        {"prompt": "a heron", "negative_prompt": "blur", "source": source.public_id, "count": 3},
    )
    made = Generation.objects.filter(source=source)
    assert made.count() == 3 and {m.negative_prompt for m in made} == {"blur"}


def test_my_history_shows_a_queued_images_place_and_the_round_renders_rows(owner, no_limits):
    item = Generation.objects.create(prompt="waiting", owner=owner)
    client = signed_in(owner)
    page = client.get("/history").content.decode()
    assert 'data-live-kind="row"' in page and 'data-testid="queue-place"' in page
    data = client.get(f"/live?ids={item.public_id}&kind=row").json()
    assert 'class="history-row' in data["items"][0]["html"]


def test_a_style_shows_its_example_image_only_while_that_image_is_public(
    owner, other_user, no_limits
):
    from gallery.models import StylePreset

    example = make_done("a heron, watercolour", owner=other_user)
    preset = StylePreset.objects.create(
        name="Watercolour", prompt_template="{prompt}, watercolour", example=example
    )
    composer = signed_in(owner).get("/").content.decode()
    # The option carries the public thumbnail URLs (the media view's, as the grid's).
    assert f'data-example="{example.thumbnail_url}"' in composer
    assert "/public/" in example.thumbnail_url

    Generation.objects.filter(pk=example.pk).update(visibility="private")
    composer = signed_in(owner).get("/").content.decode()
    assert "data-example=" not in composer and f'value="{preset.pk}"' in composer
    # Its owner's private image is not offered to its owner either: a style's example is
    # the same for everyone.
    Generation.objects.filter(pk=example.pk).update(visibility="public", moderation="hidden")
    assert "data-example=" not in signed_in(owner).get("/").content.decode()


def test_without_javascript_the_chosen_styles_example_is_on_the_page(owner, no_limits):
    from gallery.models import StylePreset

    example = make_done("a heron, ink")
    preset = StylePreset.objects.create(
        name="Ink", prompt_template="{prompt}, ink", example=example
    )
    source = make_done(
        "a heron, ink", owner=owner, preset=preset, preset_name="Ink", typed_prompt="a heron"
    )
    page = signed_in(owner).get(f"/g/{source.public_id}/again").content.decode()
    assert f'src="{example.thumbnail_url}"' in page
    assert 'alt="Example of the Ink style"' in page
    # Nothing chosen: the image is there for the script, hidden and without a source.
    page = signed_in(owner).get("/").content.decode()
    assert "data-style-example" in page and 'alt="Example of' not in page


def test_the_tile_menu_is_on_the_gallery_a_collection_my_history_and_a_tile_that_lands(
    owner, no_limits
):
    from gallery.services import collections, sharing

    done = make_done("a kite at dusk", owner=owner, visibility="private")
    waiting = Generation.objects.create(prompt="a kite at dawn", owner=owner)
    client = signed_in(owner)
    album = collections.create(owner, "Kites", visibility="public")
    collections.add(owner, album, [done])
    menu_url = 'data-tile-menu-url="/g/ID/menu"'

    def tiles_with_menus(page: str) -> int:
        return page.count("data-tile-menu>")

    grid = client.get("/").content.decode()
    assert menu_url in grid and tiles_with_menus(grid) == 1  # the done tile, not the queued one
    page = client.get(album.get_absolute_url()).content.decode()
    assert menu_url in page and tiles_with_menus(page) == 1
    history = client.get("/history").content.decode()
    assert menu_url in history and tiles_with_menus(history) == 1
    # A tile that lands while the page is open gets its menu with its image.
    rows = client.get(f"/live?ids={done.public_id},{waiting.public_id}").json()["items"]
    by_id = {row["id"]: row["html"] for row in rows}
    assert tiles_with_menus(by_id[done.public_id]) == 1
    assert tiles_with_menus(by_id[waiting.public_id]) == 0
    row = client.get(f"/live?ids={done.public_id}&kind=row").json()["items"][0]["html"]
    assert tiles_with_menus(row) == 1
    # A share link's visitors have no menu: its tiles open the link's own pages.
    link = sharing.create(owner, album)
    shared = Client().get(link.get_absolute_url()).content.decode()
    assert f'id="t-{done.public_id}"' in shared
    assert tiles_with_menus(shared) == 0 and "data-tile-menu-url" not in shared
