"""Browsing the gallery: search, filters, sort, keyset pages and prev/next, on either engine."""

import datetime as dt
import re

import pytest
from django.test import Client
from django.utils import timezone

from core.models import SiteSettings
from gallery.models import Favourite, Generation
from gallery.services import browse, search
from tests.factories import make_done, make_failed

pytestmark = [pytest.mark.web, pytest.mark.django_db]
Status = Generation.Status


@pytest.fixture
def client(client, owner):
    client.force_login(owner)
    return client


def shown(client, path: str) -> list[str]:
    """The prompts of the tiles on one page, in order."""
    page = client.get(path)
    assert page.status_code == 200
    return re.findall(r'<span class="tile-caption"[^>]*>([^<]*)</span>', page.content.decode())


def walk(client, path: str) -> list[str]:
    """Every prompt across all pages, following the "Older images" link as a browser would."""
    prompts = []
    while path:
        html = client.get(path).content.decode()
        prompts += re.findall(r'<span class="tile-caption"[^>]*>([^<]*)</span>', html)
        link = re.search(r'<li class="more" id="more">\s*<a class="button" href="([^"]+)"', html)
        path = "/" + link.group(1).replace("&amp;", "&") if link else None
    return prompts


# --- the query syntax -----------------------------------------------------------------------


def test_the_query_syntax_reads_words_phrases_and_exclusions():
    parsed = search.parse('Lighthouse "oil  painting" -people -"text logo" storm-cloud')
    assert parsed.include == (("lighthouse",), ("oil", "painting"), ("storm", "cloud"))
    assert parsed.exclude == (("people",), ("text", "logo"))


def test_search_needs_every_word(client):
    make_done("a lighthouse in a storm")
    make_done("a lighthouse at dawn")
    make_done("a storm over the sea")
    assert shown(client, "/?q=lighthouse+storm") == ["a lighthouse in a storm"]


def test_search_matches_other_forms_of_a_word(client):
    make_done("two cats sleeping")
    assert shown(client, "/?q=cat+sleep") == ["two cats sleeping"]


def test_a_quoted_phrase_needs_its_words_together_and_in_order(client):
    make_done("an oil painting of a harbour")
    make_done("painting with oil on canvas")
    assert shown(client, '/?q="oil+painting"') == ["an oil painting of a harbour"]


def test_a_minus_leaves_out_a_word_or_a_phrase(client):
    make_done("a forest with people walking")
    make_done("a forest at night")
    make_done("a forest with a text logo")
    assert shown(client, "/?q=forest+-people") == [
        "a forest with a text logo",
        "a forest at night",
    ]
    assert shown(client, '/?q=forest+-"text+logo"+-people') == ["a forest at night"]


def test_only_exclusions_list_everything_else(client):
    make_done("a red fox")
    make_done("a blue whale")
    assert shown(client, "/?q=-fox") == ["a blue whale"]


@pytest.mark.parametrize(
    "text",
    [
        '"',
        '"unclosed phrase',
        "AND OR NOT",
        "NEAR(fox whale)",
        "prompt:fox",
        "fox*",
        "^fox",
        "-",
        '-""',
        "(fox",
        "fox & | ! <-> :*",
        "'; DROP TABLE gallery_generation; --",
        "\\",
        "🦊 ñandú",
        "x" * 3000,
    ],
)
def test_no_input_breaks_the_search(client, text):
    make_done("a red fox")
    response = client.get("/", {"q": text})
    assert response.status_code == 200
    assert client.get("/", {"q": "fox"}).status_code == 200


def test_the_index_follows_edits_and_deletions(client):
    item = make_done("a red fox")
    Generation.objects.filter(pk=item.pk).update(prompt="a grey wolf")
    assert shown(client, "/?q=fox") == []
    assert shown(client, "/?q=wolf") == ["a grey wolf"]
    item.delete()
    assert shown(client, "/?q=wolf") == []


# --- visibility and filters -----------------------------------------------------------------


def test_search_finds_only_what_the_user_may_see(client, owner, other_user):
    make_done("a secret fox", owner=other_user, visibility="private")
    make_done("my own private fox", owner=owner, visibility="private")
    make_done("a hidden fox", moderation="hidden")
    make_done("a public fox")
    assert shown(client, "/?q=fox") == ["a public fox", "my own private fox"]
    assert shown(Client(), "/?q=fox") == ["a public fox"]


def test_mine_shows_only_the_users_own_images(client, owner, other_user):
    make_done("mine", owner=owner)
    make_done("theirs", owner=other_user)
    assert shown(client, "/?mine=1") == ["mine"]
    # A visitor has no "mine": the filter is ignored, not an error.
    assert shown(Client(), "/?mine=1") == ["theirs", "mine"]


def test_starred_shows_the_users_favourites(client, owner, other_user):
    liked = make_done("liked")
    make_done("not liked")
    Favourite.objects.create(user=owner, generation=liked)
    Favourite.objects.create(user=other_user, generation=make_done("liked by someone else"))
    assert shown(client, "/?starred=1") == ["liked"]


def test_a_status_filter_lists_only_ones_own_generations(client, owner, other_user):
    make_failed("my failure", "x", owner=owner)
    make_failed("their failure", "y", owner=other_user)
    Generation.objects.create(prompt="my queued one", owner=owner)
    make_done("done", owner=owner)
    page = client.get("/?status=failed").content.decode()
    assert "my failure" in page and "their failure" not in page and "done" not in page
    assert "Failed" in page  # the tile says why it has no picture
    assert shown(client, "/?status=queued") == ["my queued one"]
    assert shown(Client(), "/?status=failed") == ["done"]  # visitors: ignored


def test_a_date_range_includes_both_days(client):
    def made_on(prompt, day):
        item = make_done(prompt)
        when = timezone.make_aware(dt.datetime.combine(day, dt.time(12)))
        Generation.objects.filter(pk=item.pk).update(created_at=when)

    made_on("january", dt.date(2025, 1, 15))
    made_on("february", dt.date(2025, 2, 1))
    made_on("march", dt.date(2025, 3, 1))
    assert shown(client, "/?since=2025-01-15&until=2025-02-01") == ["february", "january"]
    assert shown(client, "/?since=2025-02-02") == ["march"]
    # Nonsense dates are ignored.
    assert len(shown(client, "/?since=2025-13-45&until=yesterday")) == 3


def test_oldest_first_pages_forward_through_everything(client, settings):
    settings.GALLERY_PAGE_SIZE = 2
    for n in range(5):
        make_done(f"image {n}")
    assert walk(client, "/?sort=oldest") == [f"image {n}" for n in range(5)]


def test_search_results_page_with_their_filters_and_no_duplicates(client, owner, settings):
    settings.GALLERY_PAGE_SIZE = 3
    for n in range(8):
        make_done(f"fox {n}", owner=owner)
        make_done(f"fox by someone else {n}")
        make_done(f"whale {n}", owner=owner)
    found = walk(client, "/?q=fox&mine=1")
    assert found == [f"fox {n}" for n in reversed(range(8))]
    found = walk(client, "/?q=fox+-else&mine=1&sort=oldest")
    assert found == [f"fox {n}" for n in range(8)]


def test_the_form_shows_the_current_filters(client):
    page = client.get("/?q=red+fox&mine=1&since=2025-01-02&sort=oldest").content.decode()
    assert 'value="red fox"' in page
    assert re.search(r'name="mine" value="1" checked', page)
    assert 'value="2025-01-02"' in page
    assert re.search(r'value="oldest" checked', page)
    assert "Clear filters" in page


def test_tiles_link_to_their_page_with_the_filters(client):
    item = make_done("a red fox")
    page = client.get("/?q=fox&sort=oldest").content.decode()
    assert f'href="/g/{item.public_id}/?q=fox&amp;sort=oldest"' in page


def test_no_match_says_so(client):
    make_done("a red fox")
    page = client.get("/?q=unicorn").content.decode()
    assert "No images match “unicorn”" in page
    assert "No images yet" not in page


# --- the detail page within the current list ------------------------------------------------


def test_the_detail_page_steps_through_the_filtered_list(client):
    first = make_done("fox one")
    make_done("a whale between")
    second = make_done("fox two")
    third = make_done("fox three")

    def links(item, qs):
        html = client.get(f"/g/{item.public_id}/{qs}").content.decode()
        return dict(re.findall(r'rel="(prev|next|up)" class="[^"]+" href="([^"]+)"', html))

    middle = links(second, "?q=fox")
    assert middle["prev"] == f"/g/{third.public_id}/?q=fox"
    assert middle["next"] == f"/g/{first.public_id}/?q=fox"
    assert middle["up"] == f"/?q=fox#t-{second.public_id}"
    # Oldest first, "next" goes the other way; the ends have one neighbour.
    assert links(second, "?q=fox&sort=oldest")["next"].startswith(f"/g/{third.public_id}/")
    assert "prev" not in links(third, "?q=fox")
    assert "next" not in links(first, "?q=fox")


def test_prev_and_next_never_lead_to_what_the_user_may_not_see(client, other_user):
    older = make_done("public older")
    make_done("someone's private", owner=other_user, visibility="private")
    newest = make_done("public newest")
    html = client.get(f"/g/{newest.public_id}/").content.decode()
    assert f'rel="next" class="button" href="/g/{older.public_id}/"' in html


def test_neighbours_service_returns_newer_and_older(other_user):
    a, b, c = make_done("a"), make_done("b"), make_done("c")
    newer, older = browse.neighbours(other_user, browse.GalleryQuery(), b)
    assert (newer.pk, older.pk) == (c.pk, a.pk)


# --- constant work per page -----------------------------------------------------------------


@pytest.mark.parametrize(
    "params", ["", "q=fox", "q=fox+-whale", "q=-whale", "mine=1", "starred=1&sort=oldest"]
)
def test_a_page_costs_the_same_queries_at_any_depth_and_size(
    client, owner, settings, django_assert_num_queries, params
):
    settings.GALLERY_PAGE_SIZE = 5

    def add(n):
        for i in range(n):
            row = make_done(f"fox {i}", owner=owner)
            Favourite.objects.create(user=owner, generation=row)

    add(12)
    rows = list(Generation.objects.order_by("id"))
    # The session, the signed-in user, the page itself, which of its images the user starred,
    # the user's daily quota under the prompt form, the composer's styles, and (the unfiltered
    # first page only) the user's work in progress at the front of the grid.
    with django_assert_num_queries(7 if params == "" else 6):
        client.get(f"/?{params}")
    add(40)
    cursor = "after" if "oldest" in params else "before"
    deep = rows[1].pk if cursor == "after" else rows[-2].pk
    with django_assert_num_queries(6):
        client.get(f"/?{params}&{cursor}={deep}")


def test_the_detail_page_adds_two_queries_for_its_neighbours(client, django_assert_num_queries):
    items = [make_done(f"fox {n}") for n in range(3)]
    SiteSettings.load()  # made on first use; a running site has it
    # The row, session, user, its neighbours (2), whether the user starred it, whether they
    # already reported it, and whether anonymous visitors may see it (its link preview).
    with django_assert_num_queries(8):
        client.get(f"/g/{items[1].public_id}/?q=fox")
