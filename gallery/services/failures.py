"""What a failure means to the person who asked for the image: what happened and what to do,
by failure code. The stored `failure_reason` and `failure_detail` stay as they are, for staff
and the APIs; the pages show these words to everyone else."""

from __future__ import annotations

from gallery.models import Generation

TELL_ADMIN = "This is not something you can fix: please tell the site's administrator."

# code -> (what happened, what to do)
MESSAGES: dict[str, tuple[str, str]] = {
    "endpoint_auth": (
        "The image service turned this site's access key down.",
        TELL_ADMIN,
    ),
    "endpoint_gone": (
        "The image model this site uses is no longer available.",
        TELL_ADMIN,
    ),
    "endpoint_rejected": (
        "The image service refused this prompt.",
        "Reword it (some words or subjects are not allowed there) and try again.",
    ),
    "endpoint_rate_limited": (
        "The image service was too busy and kept asking us to slow down.",
        "It already tried again by itself several times; retry in a few minutes.",
    ),
    "endpoint_server_error": (
        "The image service had a problem on its side.",
        "It already tried again by itself several times; retry in a few minutes.",
    ),
    "endpoint_unreachable": (
        "This site could not reach the image service.",
        "Retry in a few minutes; if it keeps happening, tell the site's administrator.",
    ),
    "endpoint_timeout": (
        "The image service took too long to answer.",
        "Retry in a few minutes; if it keeps happening, tell the site's administrator.",
    ),
    "endpoint_invalid_image": (
        "The image service sent back something that is not a usable image.",
        "Retry; if it keeps happening, tell the site's administrator.",
    ),
    "storage_error": (
        "The image was made but could not be saved on this site (its storage may be full).",
        TELL_ADMIN,
    ),
    "worker_lost": (
        "The worker making this image stopped unexpectedly, several times.",
        "Retry; if it keeps happening, tell the site's administrator.",
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
    return " ".join(known)


def retrying_note(code: str, delay: float, attempt: int, attempts: int) -> str:
    """What a running tile says while the worker waits to try again by itself."""
    what = RETRYING.get(code, "The image service did not answer as expected")
    return f"{what}; trying again by itself in {delay:.0f} s (attempt {attempt} of {attempts})."
