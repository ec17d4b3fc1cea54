"""The image scan at ingest (the optional `scan` extra): the real detector on generated
images when it is installed, and stand-in detectors at the edge (GALLERY_SCAN names them)
for the hold and blur policy, a detector that crashes and one that hangs."""

import io
import threading
import time

import pytest
from django.urls import reverse
from django.utils import timezone

from core.models import SiteSettings
from gallery.models import Generation, ModerationEvent
from gallery.services import endpoint, moderation, scan, worker
from tests.conftest import stored_files
from tests.factories import signed_in

pytestmark = [pytest.mark.web, pytest.mark.django_db]
State = Generation.Moderation

# What the stand-in detector answers, set by each test.
SCORES: dict[str, float] = {}
_release = threading.Event()


class StandIn:
    def scores(self, image):
        assert image.size == (1024, 1024)  # the decoded image, not a file name
        return dict(SCORES)


class Crashing:
    def scores(self, image):
        raise RuntimeError("the model file is corrupt")


class Hanging:
    def scores(self, image):
        _release.wait(10)
        return {}


@pytest.fixture
def detector(settings):
    def use(name: str, **scores: float) -> None:
        settings.GALLERY_SCAN = f"tests.test_scan.{name}"
        SCORES.clear()
        SCORES.update(scores)

    _release.clear()
    moderation._BLUR_CACHE.clear()  # the site's threshold, kept a few seconds per process
    yield use
    _release.set()


def _make(client_for, owner=None, prompt="a quiet harbour") -> Generation:
    item = Generation.objects.create(prompt=prompt, owner=owner, queued_at=timezone.now())
    worker.run(item.pk, client=client_for(), policy=endpoint.RetryPolicy(max_attempts=1))
    item.refresh_from_db()
    return item


def test_a_score_above_the_hold_threshold_holds_the_image_with_its_scores(
    detector, client_for, media_root, owner, moderator
):
    SiteSettings.objects.update_or_create(pk=1, defaults={"scan_hold_threshold": 0.8})
    detector("StandIn", FEMALE_BREAST_EXPOSED=0.91, FACE_FEMALE=0.99)
    item = _make(client_for, owner)
    assert item.status == Generation.Status.SUCCEEDED
    assert item.moderation == State.PENDING
    assert item.scan_scores == {"FEMALE_BREAST_EXPOSED": 0.91, "FACE_FEMALE": 0.99}
    assert item.scan_risk == 0.91  # faces do not count towards the risk
    hold = ModerationEvent.objects.get(generation=item)
    assert hold.actor is None and hold.action == ModerationEvent.Action.HOLD
    assert hold.evidence["kind"] == "scan" and hold.evidence["threshold"] == 0.8
    assert hold.evidence["scores"]["FEMALE_BREAST_EXPOSED"] == 0.91
    queue = signed_in(moderator).get(reverse("gallery:moderation")).content.decode()
    assert 'data-testid="review-scan"' in queue and "0.91" in queue
    assert "by the image scan" in queue


def test_a_score_between_the_thresholds_blurs_for_visitors_but_not_the_owner(
    detector, client_for, media_root, owner, other_user, moderator, visitor
):
    SiteSettings.objects.update_or_create(
        pk=1, defaults={"scan_hold_threshold": 0.8, "scan_blur_threshold": 0.5}
    )
    detector("StandIn", BUTTOCKS_EXPOSED=0.6)
    item = _make(client_for, owner)
    assert item.moderation == State.VISIBLE  # below the hold threshold: public
    assert not ModerationEvent.objects.filter(generation=item).exists()
    url = item.get_absolute_url()
    assert "is-blurred" in visitor.get(url).content.decode()
    assert "is-blurred" in signed_in(other_user).get(url).content.decode()
    assert "is-blurred" not in signed_in(owner).get(url).content.decode()
    assert "is-blurred" not in signed_in(moderator).get(url).content.decode()
    # In the grid too, for visitors.
    assert "is-blurred" in visitor.get(reverse("gallery:index")).content.decode()
    assert "is-blurred" not in signed_in(owner).get(reverse("gallery:index")).content.decode()


def test_a_low_score_changes_nothing(detector, client_for, media_root, visitor):
    detector("StandIn", FEET_EXPOSED=0.95, BELLY_EXPOSED=0.1)
    item = _make(client_for)
    assert item.moderation == State.VISIBLE and item.scan_risk == 0.0
    assert "is-blurred" not in visitor.get(item.get_absolute_url()).content.decode()


def test_a_crashing_scan_holds_the_image_and_keeps_it(detector, client_for, media_root, owner):
    detector("Crashing")
    item = _make(client_for, owner)
    assert item.status == Generation.Status.SUCCEEDED
    assert item.moderation == State.PENDING
    assert "did not finish" in item.moderation_reason  # why, for staff: in the evidence
    assert item.scan_risk is None
    assert item.original.name in stored_files(media_root)
    hold = ModerationEvent.objects.get(generation=item)
    assert hold.evidence == {"kind": "scan_failed", "error": "the scan failed (RuntimeError)"}
    page = signed_in(owner).get(item.get_absolute_url()).content.decode()
    assert "did not finish" in page


def test_a_scan_that_times_out_holds_the_image(detector, settings, client_for, media_root):
    settings.GALLERY_SCAN_TIMEOUT = 0.3
    detector("Hanging")
    t0 = time.monotonic()
    item = _make(client_for)
    assert time.monotonic() - t0 < 5
    assert item.status == Generation.Status.SUCCEEDED and item.moderation == State.PENDING
    assert "did not finish" in item.moderation_reason
    hold = ModerationEvent.objects.get(generation=item)
    assert "took longer than 0.3 s" in hold.evidence["error"]


def test_the_queue_sorts_by_risk(moderator):
    from tests import factories

    low = factories.make_done("low", moderation=State.PENDING, scan_risk=0.2)
    high = factories.make_done("high", moderation=State.PENDING, scan_risk=0.95)
    none = factories.make_done("unscanned", moderation=State.PENDING)
    assert [i.pk for i in moderation.queue_page(sort="risk").items] == [high.pk, low.pk, none.pk]
    assert [i.pk for i in moderation.queue_page().items] == [low.pk, high.pk, none.pk]
    page = signed_in(moderator).get(reverse("gallery:moderation") + "?sort=risk")
    html = page.content.decode()
    assert html.index("high") < html.index("low") < html.index("unscanned")


def test_with_the_scan_off_images_are_stored_as_before_and_the_admin_says_so(
    settings, client_for, media_root, moderator
):
    settings.GALLERY_SCAN = "off"
    item = _make(client_for)
    assert item.moderation == State.VISIBLE and item.scan_risk is None and item.scan_scores == {}
    assert scan.state().startswith("off")
    page = signed_in(moderator).get(reverse("admin:gallery_generation_changelist"))
    assert "image scan off" in page.content.decode()


@pytest.mark.skipif(not scan.installed(), reason="the scan extra (nudenet) is not installed")
def test_the_real_detector_scores_generated_images_and_holds_none(settings, client_for, media_root):
    settings.GALLERY_SCAN = "auto"
    made = [_make(client_for, prompt=p) for p in ("a quiet harbour", "a red fox in snow")]
    for item in made:
        assert item.status == Generation.Status.SUCCEEDED
        assert item.scan_risk is not None and item.scan_risk < 0.5
        assert isinstance(item.scan_scores, dict)
        assert item.moderation == State.VISIBLE
    assert not ModerationEvent.objects.exists()


def _reference():
    """NudeNet's own detector, as the package makes it (its default onnxruntime session)."""
    from nudenet import NudeDetector

    return NudeDetector()


def _pictures():
    """Generated pictures of the shapes the worker sees: square RGB, landscape, portrait with
    alpha (the padding and the dropped alpha are where a shortcut would differ)."""
    import numpy as np
    from PIL import Image, ImageDraw

    from gallery.standin import draw

    rng = np.random.default_rng(7)
    square = Image.open(io.BytesIO(draw.render("a quiet harbour"))).convert("RGB")
    found = [square]
    for size, mode in (((1152, 896), "RGB"), ((640, 1024), "RGBA")):
        picture = Image.new(mode, size, (40, 60, 90, 200)[: len(mode)])
        pen = ImageDraw.Draw(picture)
        for _ in range(12):
            x, y = (int(v) for v in rng.integers(0, 600, 2))
            r = int(rng.integers(40, 300))
            colour = tuple(int(v) for v in rng.integers(60, 255, len(mode)))
            pen.ellipse([x, y, x + r, y + int(r * 1.3)], fill=colour)
        found.append(picture)
    return found


@pytest.mark.skipif(not scan.installed(), reason="the scan extra (nudenet) is not installed")
def test_the_scan_gives_what_nudenets_own_detect_gives():
    import numpy as np
    from nudenet import nudenet

    ours, theirs = scan.NudeNetDetector(), _reference()
    for picture in _pictures():
        # NudeNet's detect() takes an array in OpenCV's RGBA order, its own preparation.
        as_nudenet = np.asarray(picture.convert("RGBA"))
        blob = nudenet._read_image(as_nudenet, scan.MODEL_SIZE)[0]
        assert np.array_equal(scan.model_input(picture), blob), picture.size
        # Our session (one thread, fixed shapes) scores every candidate box as theirs does.
        mine = ours._session.run(None, {ours._input: blob})[0]
        reference = theirs.onnx_session.run(None, {theirs.input_name: blob})[0]
        assert mine.shape == reference.shape == (1, 22, 2100)
        assert np.allclose(mine, reference, atol=1e-4), np.abs(mine - reference).max()
        expected = [(d["class"], d["score"], tuple(d["box"])) for d in theirs.detect(as_nudenet)]
        found = ours.detections(picture)
        assert [label for label, _, _ in found] == [label for label, _, _ in expected]
        assert [s for _, s, _ in found] == pytest.approx([s for _, s, _ in expected], abs=1e-4)


@pytest.mark.skipif(not scan.installed(), reason="the scan extra (nudenet) is not installed")
def test_the_detections_are_nudenets_for_an_output_full_of_boxes():
    """Generated pictures give the model little to find, so NudeNet's post-processing is also
    fed raw outputs with a thousand boxes over its thresholds, overlapping, off the edges."""
    import numpy as np
    from nudenet import nudenet

    labels = scan.NudeNetDetector()._labels
    scale = np.array([320, 320, 120, 120] + [0.35] * 18, dtype=np.float32)[None, :, None]
    for seed, (width, height) in enumerate(((1024, 1024), (1152, 896), (640, 1024))):
        output = np.random.default_rng(seed).random((1, 22, 2100), dtype=np.float32) * scale
        side = max(width, height)
        expected = nudenet._postprocess(
            [output], side - width, side - height, 0, 0, width, height, 320, 320
        )
        found = scan.found_in(output, (width, height), labels)
        assert len(found) > 100
        assert found == [(d["class"], d["score"], tuple(d["box"])) for d in expected]
        assert {label for label, _, _ in found} >= set(scan.RISK_LABELS)
