"""What a failure means to the person who asked for the image: what happened and what to do,
by failure code. The stored `failure_reason` and `failure_detail` stay as they are, for staff
and the APIs; the pages show these words to everyone else."""

from __future__ import annotations

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from gallery.models import Generation

StrOrPromise = str | Promise

# Translated when shown (gettext_lazy): in the language of whoever reads the page.
TELL_ADMIN = _("This is not something you can fix: please tell the site's administrator.")

# code -> (what happened, what to do)
MESSAGES: dict[str, tuple[StrOrPromise, StrOrPromise]] = {
    "endpoint_auth": (
        _("The image service turned this site's access key down."),
        TELL_ADMIN,
    ),
    "endpoint_gone": (
        _("The image model this site uses is no longer available."),
        TELL_ADMIN,
    ),
    "endpoint_rejected": (
        _("The image service refused this prompt."),
        _("Reword it (some words or subjects are not allowed there) and try again."),
    ),
    "endpoint_rate_limited": (
        _("The image service was too busy and kept asking us to slow down."),
        _("It already tried again by itself several times; retry in a few minutes."),
    ),
    "endpoint_server_error": (
        _("The image service had a problem on its side."),
        _("It already tried again by itself several times; retry in a few minutes."),
    ),
    "endpoint_unreachable": (
        _("This site could not reach the image service."),
        _("Retry in a few minutes; if it keeps happening, tell the site's administrator."),
    ),
    "endpoint_timeout": (
        _("The image service took too long to answer."),
        _("Retry in a few minutes; if it keeps happening, tell the site's administrator."),
    ),
    "endpoint_invalid_image": (
        _("The image service sent back something that is not a usable image."),
        _("Retry; if it keeps happening, tell the site's administrator."),
    ),
    "storage_error": (
        _("The image was made but could not be saved on this site (its storage may be full)."),
        TELL_ADMIN,
    ),
    "worker_lost": (
        _("The worker making this image stopped unexpectedly, several times."),
        _("Retry; if it keeps happening, tell the site's administrator."),
    ),
}

# While a worker waits to try again by itself (shown on the running tile), by code.
RETRYING: dict[str, str] = {
    "endpoint_rate_limited": "The image service is busy",
    "endpoint_server_error": "The image service had a hiccup",
    "endpoint_unreachable": "The image service could not be reached",
    "endpoint_timeout": "The image service was slow to answer",
}


def in_words(generation: Generation) -> str:
    """The failure as the user should read it; the stored reason for an unknown code."""
    known = MESSAGES.get(generation.failure_code)
    if known is None:
        return generation.failure_reason
    return " ".join(str(part) for part in known)


def retrying_note(code: str, delay: float, attempt: int, attempts: int) -> str:
    """What a running tile says while the worker waits to try again by itself."""
    what = RETRYING.get(code, "The image service did not answer as expected")
    return f"{what}; trying again by itself in {delay:.0f} s (attempt {attempt} of {attempts})."
