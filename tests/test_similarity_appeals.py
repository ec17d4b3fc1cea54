"""Similar images, system decisions (near-duplicate and report holds, with evidence, undone by
staff) and appeals, through the pipeline, the pages and the services."""

import io

import pytest
from django.contrib.auth.models import AnonymousUser
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from PIL import Image, ImageDraw

from core.models import SiteSettings
from gallery.models import Appeal, Generation, ModerationEvent
from gallery.services import derivatives, endpoint, moderation, similarity, worker
from tests import factories
from tests.factories import signed_in

pytestmark = [pytest.mark.web, pytest.mark.django_db]
State = Generation.Moderation
Action = ModerationEvent.Action


def _picture(seed: int, size: int = 512) -> Image.Image:
    img = Image.new("RGB", (size, size), (seed * 37 % 255, 90, 160))
    draw = ImageDraw.Draw(img)
    for n in range(6):
        x = (seed * 53 + n * 71) % size
        draw.ellipse((x // 2, n * size // 7, x // 2 + size // 3, n * size // 7 + size // 4),
                     fill=((n * 40 + seed) % 255, (seed * 11) % 255, 255 - n * 30))  # fmt: skip
    return img


def _with_hash(value: int, **fields) -> Generation:
    return factories.make_done(fields.pop("prompt", "a fox"), **similarity.fields_for(value),
                               **fields)  # fmt: skip


def _make(prompt: str, client_for, owner=None) -> Generation:
    item = Generation.objects.create(prompt=prompt, owner=owner, queued_at=timezone.now())
    worker.run(item.pk, client=client_for(), policy=endpoint.RetryPolicy(max_attempts=1))
    item.refresh_from_db()
    return item


# --- The hash -------------------------------------------------------------------------------


def test_a_re_encoded_resized_copy_hashes_close_and_another_picture_far():
    original = _picture(3, 1024)
    buf = io.BytesIO()
    original.resize((600, 600)).save(buf, "JPEG", quality=60)
    copy = Image.open(buf)
    same = similarity.distance(similarity.dhash(original), similarity.dhash(copy))
    other = similarity.distance(similarity.dhash(original), similarity.dhash(_picture(8, 1024)))
    assert same <= similarity.NEAR_DUPLICATE_DISTANCE
    assert other > 2 * similarity.NEAR_DUPLICATE_DISTANCE


def test_hashes_keep_their_64_bits_in_a_signed_column():
    value = (1 << 64) - 5  # the top bit set
    row = _with_hash(value)
    row.refresh_from_db()
    assert row.phash < 0
    assert similarity.distance(row.phash, value) == 0
    assert [getattr(row, f"phash_band{n}") for n in range(4)] == similarity.bands(value)


# --- Similar images -------------------------------------------------------------------------


def test_similar_images_are_the_visible_ones_nearest_first(owner, other_user, visitor):
    base = 0x0123_4567_89AB_CDEF
    item = _with_hash(base, owner=owner)
    one_bit = _with_hash(base ^ 1, prompt="one bit off")
    five_bits = _with_hash(base ^ 0b11111 << 20, prompt="five bits off")
    _with_hash(base ^ 2, prompt="private one", owner=other_user, visibility="private")
    _with_hash(base ^ 4, prompt="hidden one", moderation=State.HIDDEN, moderation_reason="x")
    _with_hash(base ^ 0xFFFF_FFFF_0000_0000, prompt="far away")  # shares bands, 32 bits off
    _with_hash(~base & ((1 << 64) - 1), prompt="unrelated")  # shares no band

    matches = similarity.similar(AnonymousUser(), item)
    assert [m.generation for m in matches] == [one_bit, five_bits]
    assert [m.distance for m in matches] == [1, 5]

    page = visitor.get(item.get_absolute_url()).content.decode()
    assert 'data-testid="similar-images"' in page
    assert page.index(one_bit.get_absolute_url()) < page.index(five_bits.get_absolute_url())
    for hidden in ("private one", "hidden one", "far away", "unrelated"):
        assert hidden not in page
    # Its owner sees their own private image among them.
    mine = signed_in(other_user).get(item.get_absolute_url()).content.decode()
    assert "private one" in mine


def test_the_pipeline_hashes_each_new_image_and_rebuild_hashes_older_rows(client_for, media_root):
    item = _make("a quiet harbour", client_for)
    assert item.phash is not None
    stored = item.phash
    Generation.objects.filter(pk=item.pk).update(
        phash=None, phash_band0=None, phash_band1=None, phash_band2=None, phash_band3=None
    )
    result = derivatives.rebuild_many(only_missing=True)
    item.refresh_from_db()
    assert result.rebuilt == 1 and not result.failed
    assert item.phash == stored


# --- System decisions -----------------------------------------------------------------------


def test_a_near_duplicate_of_a_removed_image_is_held_with_evidence_and_staff_can_undo(
    client_for, media_root, owner, moderator
):
    first = _make("a red fox in snow", client_for, owner)
    moderation.remove(first, actor=moderator, reason="Copied artwork")
    # The stand-in draws the same picture for the same prompt.
    again = _make("a red fox in snow", client_for, owner)
    assert again.status == Generation.Status.SUCCEEDED
    assert again.moderation == State.PENDING
    assert "removed" in again.moderation_reason
    hold = ModerationEvent.objects.filter(generation=again).get()
    assert hold.action == Action.HOLD and hold.actor is None
    assert hold.evidence["kind"] == "near_duplicate"
    assert hold.evidence["of"] == first.public_id
    assert hold.evidence["distance"] <= similarity.NEAR_DUPLICATE_DISTANCE
    assert hold.evidence["removed_reason"] == "Copied artwork"

    # The owner is told why; the queue offers the undo.
    page = signed_in(owner).get(again.get_absolute_url()).content.decode()
    assert "Nearly identical to an image a moderator removed" in page
    queue = signed_in(moderator).get(reverse("gallery:moderation")).content.decode()
    assert reverse("gallery:undo", args=[hold.pk]) in queue

    response = signed_in(moderator).post(reverse("gallery:undo", args=[hold.pk]))
    assert response.status_code == 302
    again.refresh_from_db()
    assert again.moderation == State.VISIBLE
    undo = ModerationEvent.objects.filter(generation=again).first()
    assert undo.action == Action.UNDO and undo.actor == moderator
    assert undo.evidence == {"undoes": hold.pk, "held_for": "near_duplicate"}
    # Once undone, it is no longer the latest decision: no second undo.
    with pytest.raises(Exception, match="later decision"):
        moderation.undo(hold, actor=moderator)


def test_a_different_image_is_not_held(client_for, media_root, owner, moderator):
    first = _make("a red fox in snow", client_for, owner)
    moderation.remove(first, actor=moderator, reason="Copied artwork")
    other = _make("a lighthouse at dusk, oil painting", client_for, owner)
    assert other.moderation == State.VISIBLE
    assert not ModerationEvent.objects.filter(generation=other).exists()


def test_a_report_threshold_hold_records_its_evidence_and_can_be_undone(
    owner, moderator, django_user_model
):
    SiteSettings.objects.update_or_create(pk=1, defaults={"report_threshold": 2})
    item = factories.make_done("a castle", owner=owner)
    for n in range(2):
        reporter = django_user_model.objects.create_user(f"rep{n}")
        moderation.report(item, reporter=reporter, category="spam")
    item.refresh_from_db()
    assert item.moderation == State.PENDING
    hold = ModerationEvent.objects.get(generation=item)
    assert hold.evidence == {
        "kind": "reports", "open_reports": 2, "threshold": 2, "categories": {"spam": 2},
    }  # fmt: skip
    assert moderation.can_undo(moderator, hold) and not moderation.can_undo(owner, hold)
    moderation.undo(hold, actor=moderator, reason="Not spam")
    item.refresh_from_db()
    assert item.moderation == State.VISIBLE
    assert not item.reports.filter(resolved_at__isnull=True).exists()


def test_only_staff_undo_and_only_system_decisions(owner, moderator):
    item = factories.make_done("a castle", owner=owner)
    hidden = moderation.hide(item, actor=moderator, reason="Off-topic")
    with pytest.raises(Exception, match="system"):
        moderation.undo(hidden, actor=moderator)
    response = signed_in(owner).post(reverse("gallery:undo", args=[hidden.pk]))
    assert response.status_code == 404  # not staff: nothing to see


# --- Appeals --------------------------------------------------------------------------------


def test_the_owner_appeals_once_and_is_shown_the_decision(owner, moderator):
    item = factories.make_done("a castle", owner=owner)
    moderation.hide(item, actor=moderator, reason="Looks like spam")
    client = signed_in(owner)
    assert "Appeal this decision" in client.get(item.get_absolute_url()).content.decode()
    client.post(reverse("gallery:appeal", args=[item.public_id]), {"note": "It is my own art."})
    appeal = Appeal.objects.get(generation=item)
    assert appeal.note == "It is my own art." and appeal.appealed_state == State.HIDDEN
    # Once only.
    client.post(reverse("gallery:appeal", args=[item.public_id]), {"note": "Again"})
    assert Appeal.objects.filter(generation=item).count() == 1
    page = client.get(item.get_absolute_url()).content.decode()
    assert "You appealed" in page and "Appeal this decision" not in page

    # It waits in the review queue beside the reports.
    queue = signed_in(moderator).get(reverse("gallery:moderation")).content.decode()
    assert "It is my own art." in queue and "Grant appeal" in queue

    signed_in(moderator).post(
        reverse("gallery:decide", args=[item.public_id]),
        {"action": "deny", "reason": "The watermark says otherwise"},
    )
    item.refresh_from_db()
    assert item.moderation == State.HIDDEN
    event = ModerationEvent.objects.filter(generation=item).first()
    assert event.action == Action.DENY and event.reason == "The watermark says otherwise"
    assert event.evidence["appeal"] == appeal.pk
    page = client.get(item.get_absolute_url()).content.decode()
    assert "Appeal denied:" in page and "The watermark says otherwise" in page
    queue = signed_in(moderator).get(reverse("gallery:moderation")).content.decode()
    assert "It is my own art." not in queue


def test_a_granted_appeal_restores_a_hidden_image(owner, moderator, visitor):
    item = factories.make_done("a castle", owner=owner)
    moderation.hide(item, actor=moderator, reason="Spam")
    moderation.appeal(item, appellant=owner, note="Not spam")
    moderation.decide(item, Action.GRANT, actor=moderator, reason="Agreed, sorry")
    item.refresh_from_db()
    assert item.moderation == State.VISIBLE
    assert visitor.get(item.get_absolute_url()).status_code == 200
    appeal = Appeal.objects.get(generation=item)
    assert appeal.outcome == Appeal.Outcome.GRANTED and appeal.decided_by == moderator
    assert "Appeal granted:" in signed_in(owner).get(item.get_absolute_url()).content.decode()


def test_a_granted_appeal_on_a_removed_image_overturns_it_and_forgets_its_hash(owner, moderator):
    item = _with_hash(0xABCDEF, owner=owner)
    moderation.remove(item, actor=moderator, reason="Gore")
    assert similarity.removed_near_duplicate(0xABCDEF) is not None
    moderation.appeal(item, appellant=owner, note="It is ketchup")
    # A removed image waits in the queue only while appealed.
    assert [i.pk for i in moderation.queue_page().items] == [item.pk]
    moderation.decide(item, Action.GRANT, actor=moderator, reason="It is ketchup")
    item.refresh_from_db()
    assert item.moderation == State.REMOVED
    assert item.moderation_reason == "Removal overturned on appeal: It is ketchup"
    assert similarity.removed_near_duplicate(0xABCDEF) is None
    assert moderation.queue_page().items == []


def test_appeals_need_a_note_and_a_hidden_or_removed_image(owner, moderator):
    item = factories.make_done("a castle", owner=owner)
    with pytest.raises(Exception, match="hidden or removed"):
        moderation.appeal(item, appellant=owner, note="Why?")
    moderation.hide(item, actor=moderator, reason="Spam")
    with pytest.raises(Exception, match="why"):
        moderation.appeal(item, appellant=owner, note="  ")
    with pytest.raises(Exception, match="reason"):
        moderation.appeal(item, appellant=owner, note="ok")
        moderation.decide(item, Action.DENY, actor=moderator, reason="")


def test_a_plain_decision_from_the_queue_answers_an_open_appeal(owner, moderator):
    item = factories.make_done("a castle", owner=owner)
    moderation.hide(item, actor=moderator, reason="Spam")
    moderation.appeal(item, appellant=owner, note="Not spam")
    moderation.approve(item, actor=moderator, reason="Fine after all")
    appeal = Appeal.objects.get(generation=item)
    assert appeal.outcome == Appeal.Outcome.GRANTED
    assert appeal.decision_reason == "Fine after all"


# --- The verify page ------------------------------------------------------------------------


def test_the_verify_page_finds_an_edited_copy_by_perceptual_similarity(
    client_for, media_root, owner
):
    item = _make("a quiet harbour", client_for, owner)
    with Image.open(media_root / item.original.name) as img:
        buf = io.BytesIO()
        img.convert("RGB").resize((500, 500)).save(buf, "JPEG", quality=55)
    upload = SimpleUploadedFile("copy.jpg", buf.getvalue(), content_type="image/jpeg")
    page = Client().post(reverse("gallery:verify"), {"image": upload}).content.decode()
    assert 'data-testid="similar-match"' in page
    assert item.get_absolute_url() in page
