"""Moderation through the pages and the admin: blocklist, reports, decisions, audit, queue."""

import pytest
from django.core.exceptions import ValidationError
from django.test import Client
from django.urls import reverse
from django_tasks_db.models import DBTaskResult

from core.models import SiteSettings
from gallery.models import BlockedAttempt, BlockedTerm, Generation, ModerationEvent, Report
from gallery.services import blocklist, intake, moderation
from tests import factories
from tests.conftest import stored_files
from tests.factories import signed_in

pytestmark = [pytest.mark.web, pytest.mark.django_db]
State = Generation.Moderation


def make_done(owner=None, prompt="a red fox in snow", **fields) -> Generation:
    return factories.make_done(prompt, owner=owner, **fields)


@pytest.fixture
def reporters(django_user_model):
    return [django_user_model.objects.create_user(f"r{i}", password="pw") for i in range(3)]


# --- Blocklist ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("term", "kind", "prompt", "blocked"),
    [
        ("gore", "word", "Lots of GORE, please", True),
        ("gore", "word", "a gorepunk... no: a gorgeous sunset", False),
        ("gore", "word", "g.o.r.e on the walls", True),
        ("gore", "word", "g o r e on the walls", True),
        ("gore", "word", "ｇｏｒｅ in full width", True),
        ("war", "word", "software engineer at a desk", False),
        ("blood bath", "word", "a Blood-bath at dawn", True),
        ("blood bath", "word", "blood   ,  bath", True),
        ("blood bath", "word", "a bath of blood", False),
        ("naïve", "word", "a NAIVE painting", True),
        (r"kill(ing|ed)?\b", "pattern", "killing time in Paris", True),
        (r"kill(ing|ed)?\b", "pattern", "a skill tree", True),  # patterns are the staff's regex
        (r"\bkill(ing|ed)?\b", "pattern", "a skill tree", False),
    ],
)
def test_blocklist_matching(term, kind, prompt, blocked):
    BlockedTerm.objects.create(term=term, kind=kind, reason="violence")
    assert (blocklist.find(prompt) is not None) is blocked


def test_a_pattern_that_does_not_compile_is_refused_at_save():
    with pytest.raises(ValidationError, match="regular expression"):
        BlockedTerm.objects.create(term="(unclosed", kind="pattern", reason="x")
    assert not BlockedTerm.objects.exists()


def test_inactive_terms_do_not_block():
    BlockedTerm.objects.create(term="gore", reason="violence", active=False)
    assert blocklist.find("gore") is None


def test_a_blocked_prompt_is_refused_with_its_reason_and_nothing_else_happens(
    owner, django_capture_on_commit_callbacks
):
    BlockedTerm.objects.create(term=r"blood\s*bath", kind="pattern", reason="graphic violence")
    client = signed_in(owner)
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = client.post(
            reverse("gallery:generate"),
            {"prompt": "a calm lake", "negative_prompt": "no Bloodbath"},
        )
    assert response.status_code == 400
    page = response.content.decode()
    assert "graphic violence" in page
    assert r"blood\s*bath" not in page  # the pattern is not revealed
    assert "a calm lake" in page  # the user's input is kept
    assert not Generation.objects.exists()
    assert not DBTaskResult.objects.exists()  # no task: the endpoint is never called
    assert callbacks == []
    attempt = BlockedAttempt.objects.get()
    assert (attempt.user, attempt.prompt, attempt.negative_prompt, attempt.reason) == (
        owner,
        "a calm lake",
        "no Bloodbath",
        "graphic violence",
    )


def test_blocked_attempts_are_listed_in_the_admin(owner, moderator, admin_client):
    BlockedTerm.objects.create(term="gore", reason="violence")
    signed_in(owner).post(reverse("gallery:generate"), {"prompt": "gore everywhere"})
    page = admin_client.get(reverse("admin:gallery_blockedattempt_changelist"))
    assert "gore everywhere" in page.content.decode()


# --- Reports --------------------------------------------------------------------------------


def test_reports_hide_an_image_for_review_at_the_threshold(owner, reporters):
    SiteSettings.objects.update_or_create(pk=1, defaults={"report_threshold": 3})
    item = make_done(owner)
    url = reverse("gallery:report", args=[item.public_id])
    for i, reporter in enumerate(reporters[:2]):
        response = signed_in(reporter).post(url, {"category": "violence", "note": f"n{i}"})
        assert response.status_code == 302
        assert response["Location"] == item.get_absolute_url()
    item.refresh_from_db()
    assert item.moderation == State.VISIBLE
    assert signed_in(reporters[2]).get(item.get_absolute_url()).status_code == 200

    response = signed_in(reporters[2]).post(url, {"category": "hate"})
    assert response.status_code == 302
    assert response["Location"] == reverse("gallery:index")  # the reporter can't see it now
    item.refresh_from_db()
    assert item.moderation == State.PENDING
    event = ModerationEvent.objects.get(generation=item)
    assert (event.actor, event.action, event.from_state, event.to_state) == (
        None,
        "hold",
        "visible",
        "pending",
    )
    assert signed_in(reporters[0]).get(item.get_absolute_url()).status_code == 404
    assert Client().get(item.get_absolute_url()).status_code == 404
    owner_page = signed_in(owner).get(item.get_absolute_url()).content.decode()
    assert "Waiting for review" in owner_page


def test_one_open_report_per_user_and_never_on_your_own_image(owner, reporters):
    item = make_done(owner)
    url = reverse("gallery:report", args=[item.public_id])
    client = signed_in(reporters[0])
    assert client.post(url, {"category": "spam"}).status_code == 302
    page = client.get(item.get_absolute_url()).content.decode()
    assert "You have reported this image" in page
    again = client.post(url, {"category": "spam"})
    assert again.status_code == 400
    assert "already reported" in again.content.decode()
    own = signed_in(owner).post(url, {"category": "spam"})
    assert own.status_code == 400
    assert "your own image" in own.content.decode()
    assert "Report this image" not in signed_in(owner).get(item.get_absolute_url()).content.decode()
    assert Report.objects.count() == 1


def test_a_report_needs_a_category(owner, reporters):
    item = make_done(owner)
    response = signed_in(reporters[0]).post(
        reverse("gallery:report", args=[item.public_id]), {"note": "?"}
    )
    assert response.status_code == 400
    assert not Report.objects.exists()


def test_anonymous_visitors_see_no_report_form_and_cannot_report(owner):
    item = make_done(owner)
    assert "Report this image" not in Client().get(item.get_absolute_url()).content.decode()
    response = Client().post(reverse("gallery:report", args=[item.public_id]), {"category": "x"})
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


# --- Decisions and their audit --------------------------------------------------------------


def test_hiding_needs_a_reason_and_shows_it_to_the_owner(owner, moderator, reporters):
    item = make_done(owner)
    moderation.report(item, reporter=reporters[0], category="hate")
    with pytest.raises(ValidationError):
        moderation.hide(item, actor=moderator, reason="  ")
    moderation.hide(item, actor=moderator, reason="Hateful symbols")
    item.refresh_from_db()
    assert (item.moderation, item.moderated_by, item.moderation_reason) == (
        State.HIDDEN,
        moderator,
        "Hateful symbols",
    )
    assert not Report.objects.filter(resolved_at__isnull=True).exists()
    assert Report.objects.get().resolution == "hide"
    page = signed_in(owner).get(item.get_absolute_url()).content.decode()
    assert "Hidden by a moderator:" in page
    assert "Hateful symbols" in page
    assert signed_in(reporters[1]).get(item.get_absolute_url()).status_code == 404

    moderation.approve(item, actor=moderator)
    item.refresh_from_db()
    assert item.moderation == State.VISIBLE
    events = list(ModerationEvent.objects.order_by("id").values_list("action", "from_state"))
    assert events == [("hide", "visible"), ("restore", "hidden")]


def test_an_image_still_being_made_can_be_hidden_but_not_removed(owner, moderator):
    item = Generation.objects.create(prompt="busy", owner=owner, status="running")
    with pytest.raises(ValidationError, match="still being made"):
        moderation.remove(item, actor=moderator, reason="r")
    moderation.hide(item, actor=moderator, reason="r")
    item.refresh_from_db()
    assert item.moderation == State.HIDDEN


def test_only_staff_can_decide(owner):
    item = make_done(owner)
    with pytest.raises(Exception, match="Only staff"):
        moderation.hide(item, actor=owner, reason="mine")


def test_removal_deletes_the_files_after_commit_and_keeps_the_row(
    finished, moderator, owner, media_root, django_capture_on_commit_callbacks
):
    Generation.objects.filter(pk=finished.pk).update(owner=owner)
    assert stored_files(media_root)
    with django_capture_on_commit_callbacks(execute=True):
        moderation.remove(finished, actor=moderator, reason="Illegal content")
    assert stored_files(media_root) == []
    finished.refresh_from_db()
    assert finished.moderation == State.REMOVED
    assert (finished.original.name, finished.thumbnail.name, finished.thumbnail_2x.name) == (
        "",
        "",
        "",
    )
    page = signed_in(owner).get(finished.get_absolute_url()).content.decode()
    assert "Removed:" in page and "Illegal content" in page
    with pytest.raises(ValidationError):
        moderation.approve(finished, actor=moderator)  # nothing to bring back
    # The audit record outlives the image.
    finished.delete()
    event = ModerationEvent.objects.get()
    assert (event.generation, event.generation_public_id, event.action) == (
        None,
        finished.public_id,
        "remove",
    )


# --- Pre-moderation -------------------------------------------------------------------------


def test_pre_moderation_keeps_new_images_from_others_until_approved(owner, moderator, reporters):
    SiteSettings.objects.update_or_create(pk=1, defaults={"moderation_mode": "pre"})
    response = signed_in(owner).post(reverse("gallery:generate"), {"prompt": "a harbour"})
    item = Generation.objects.get()
    assert item.moderation == State.PENDING
    # Pretend the worker finished it.
    Generation.objects.filter(pk=item.pk).update(
        status="succeeded",
        original="originals/a.jpg",
        thumbnail="thumbnails/a-256.webp",
        thumbnail_2x="thumbnails/a-512.webp",
        sha256="1" * 64,
    )
    owner_page = signed_in(owner).get(response["Location"]).content.decode()
    assert "Waiting for review" in owner_page
    assert signed_in(reporters[0]).get(response["Location"]).status_code == 404
    assert item.public_id not in signed_in(reporters[0]).get("/").content.decode()

    queue = signed_in(moderator).get(reverse("gallery:moderation")).content.decode()
    assert item.public_id in queue
    signed_in(moderator).post(
        reverse("gallery:decide", args=[item.public_id]), {"action": "approve", "reason": ""}
    )
    assert signed_in(reporters[0]).get(response["Location"]).status_code == 200
    assert item.public_id in signed_in(reporters[0]).get("/").content.decode()


# --- The review queue -----------------------------------------------------------------------


def test_the_queue_is_for_staff_only(owner):
    url = reverse("gallery:moderation")
    assert Client().get(url)["Location"].startswith(reverse("login"))
    assert signed_in(owner).get(url).status_code == 404
    assert (
        signed_in(owner)
        .post(reverse("gallery:decide", args=[make_done(owner).public_id]), {"action": "hide"})
        .status_code
        == 404
    )


def test_the_queue_lists_pending_and_reported_images_oldest_first_in_pages(
    owner, moderator, reporters, django_assert_max_num_queries
):
    old_pending = make_done(owner, prompt="old pending", moderation=State.PENDING)
    make_done(owner, prompt="fine and unreported")
    reported = make_done(owner, prompt="reported one")
    make_done(owner, prompt="hidden already", moderation=State.HIDDEN)
    new_pending = make_done(owner, prompt="new pending", moderation=State.PENDING)
    moderation.report(reported, reporter=reporters[0], category="spam", note="buy pills")
    moderation.report(reported, reporter=reporters[1], category="other")

    page = moderation.queue_page(page_size=2)
    assert [i.prompt for i in page.items] == ["old pending", "reported one"]
    assert [r.note for r in page.items[1].open_reports] == ["buy pills", ""]
    rest = moderation.queue_page(after=page.next_cursor, page_size=2)
    assert [i.prompt for i in rest.items] == ["new pending"]
    assert rest.next_cursor is None

    client = signed_in(moderator)
    with django_assert_max_num_queries(12):
        html = client.get(reverse("gallery:moderation")).content.decode()
    assert html.index("old pending") < html.index("reported one") < html.index("new pending")
    assert "fine and unreported" not in html and "hidden already" not in html
    assert "buy pills" in html and "Spam" in html
    assert old_pending.thumbnail_url in html and new_pending.public_id in html


def test_deciding_in_the_queue_in_place_with_htmx(owner, moderator, reporters):
    item = make_done(owner)
    moderation.report(item, reporter=reporters[0], category="violence")
    client = signed_in(moderator)
    url = reverse("gallery:decide", args=[item.public_id])
    missing = client.post(url, {"action": "hide", "reason": ""}, headers={"HX-Request": "true"})
    assert missing.status_code == 400
    assert "Give a reason" in missing.content.decode()
    done = client.post(
        url, {"action": "hide", "reason": "Too graphic"}, headers={"HX-Request": "true"}
    )
    assert done.status_code == 200
    fragment = done.content.decode()
    assert "<html" not in fragment and "Too graphic" in fragment and "Hidden" in fragment
    item.refresh_from_db()
    assert item.moderation == State.HIDDEN
    assert item.public_id not in client.get(reverse("gallery:moderation")).content.decode()


# --- The admin ------------------------------------------------------------------------------


def test_admin_bulk_hide_needs_a_reason_and_goes_through_the_service(admin_client, owner):
    items = [make_done(owner, prompt=f"p{i}") for i in range(3)]
    url = reverse("admin:gallery_generation_changelist")
    chosen = [items[0].pk, items[1].pk]
    admin_client.post(url, {"action": "hide_selected", "_selected_action": chosen, "reason": ""})
    assert not Generation.objects.filter(moderation=State.HIDDEN).exists()
    response = admin_client.post(
        url, {"action": "hide_selected", "_selected_action": chosen, "reason": "Off-topic"}
    )
    assert response.status_code == 302
    hidden = Generation.objects.filter(moderation=State.HIDDEN)
    assert sorted(hidden.values_list("pk", flat=True)) == sorted(chosen)
    assert set(hidden.values_list("moderation_reason", flat=True)) == {"Off-topic"}
    assert ModerationEvent.objects.filter(action="hide").count() == 2

    admin_client.post(url, {"action": "approve_selected", "_selected_action": chosen})
    assert not Generation.objects.filter(moderation=State.HIDDEN).exists()


def test_admin_bulk_remove_deletes_files(
    admin_client, finished, media_root, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        admin_client.post(
            reverse("admin:gallery_generation_changelist"),
            {"action": "remove_selected", "_selected_action": [finished.pk], "reason": "Spam"},
        )
    finished.refresh_from_db()
    assert finished.moderation == State.REMOVED
    assert stored_files(media_root) == []


def test_admin_filters_reported_and_by_owner(admin_client, owner, reporters):
    reported = make_done(owner, prompt="reported prompt")
    make_done(reporters[1], prompt="someone else's")
    make_done(owner, prompt="quiet prompt")
    moderation.report(reported, reporter=reporters[0], category="spam")
    url = reverse("admin:gallery_generation_changelist")
    page = admin_client.get(url, {"reported": "yes"}).content.decode()
    assert "reported prompt" in page and "quiet prompt" not in page
    page = admin_client.get(url, {"owner": "ada"}).content.decode()
    assert "quiet prompt" in page and "someone else" not in page
    page = admin_client.get(url, {"q": "quiet"}).content.decode()
    assert "quiet prompt" in page and "reported prompt" not in page


def test_site_settings_admin_is_a_singleton(admin_client):
    SiteSettings.load()
    add = admin_client.get(reverse("admin:core_sitesettings_add"))
    assert add.status_code == 403
    change = admin_client.get(reverse("admin:core_sitesettings_change", args=[1]))
    assert change.status_code == 200
    delete = admin_client.get(reverse("admin:core_sitesettings_delete", args=[1]))
    assert delete.status_code == 403


def test_moderation_events_are_read_only_in_the_admin(admin_client, owner, moderator):
    item = make_done(owner)
    moderation.hide(item, actor=moderator, reason="r")
    event = ModerationEvent.objects.get()
    page = admin_client.get(reverse("admin:gallery_moderationevent_change", args=[event.pk]))
    assert page.status_code == 200
    assert b'name="reason"' not in page.content
    assert admin_client.get(reverse("admin:gallery_moderationevent_add")).status_code == 403


def test_the_admin_refuses_a_pattern_that_does_not_compile(admin_client):
    response = admin_client.post(
        reverse("admin:gallery_blockedterm_add"),
        {"term": "[a-", "kind": "pattern", "reason": "x", "active": "on"},
    )
    assert response.status_code == 200
    assert "Not a valid regular expression" in response.content.decode()
    assert not BlockedTerm.objects.exists()
    admin_client.post(
        reverse("admin:gallery_blockedterm_add"),
        {"term": "gore", "kind": "word", "reason": "violence", "active": "on"},
    )
    assert BlockedTerm.objects.get().created_by.username == "admin"


def test_the_admin_change_page_shows_the_moderation_history_and_reports(
    admin_client, owner, moderator, reporters
):
    item = make_done(owner)
    moderation.report(item, reporter=reporters[0], category="spam", note="buy cheap pills")
    moderation.hide(item, actor=moderator, reason="Advertising")
    page = admin_client.get(reverse("admin:gallery_generation_change", args=[item.pk]))
    html = page.content.decode()
    assert "Moderation history" in html and "Advertising" in html
    assert "buy cheap pills" in html


def test_pre_moderation_lets_private_images_and_staffs_own_through(owner, moderator):
    SiteSettings.objects.update_or_create(pk=1, defaults={"moderation_mode": "pre"})
    private = intake.submit(prompt="just for me", owner=owner, visibility="private")
    by_staff = intake.submit(prompt="from the team", owner=moderator)
    assert private.moderation == by_staff.moderation == State.VISIBLE
    queue = signed_in(moderator).get(reverse("gallery:moderation")).content.decode()
    assert private.public_id not in queue and by_staff.public_id not in queue
