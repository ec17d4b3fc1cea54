"""Prompts a user can recall in the composer: their own recent ones and their starred ones."""

from __future__ import annotations

from django.contrib.auth.models import User

from gallery.models import Favourite
from gallery.services import access

RECALL_MAX = 10
# Rows read to find RECALL_MAX distinct prompts (a batch repeats one prompt up to 4 times).
SCAN = 60


def _entry(prompt: str, negative: str) -> dict[str, str]:
    return {"prompt": prompt, "negative_prompt": negative}


def _typed(row) -> dict[str, str]:
    if row.preset_name:
        return _entry(row.typed_prompt, row.typed_negative_prompt)
    return _entry(row.prompt, row.negative_prompt)


def _distinct(entries, limit: int) -> list[dict[str, str]]:
    seen: set[str] = set()
    out = []
    for entry in entries:
        if entry["prompt"] and entry["prompt"] not in seen:
            seen.add(entry["prompt"])
            out.append(entry)
        if len(out) == limit:
            break
    return out


def prompts(user: User) -> dict[str, list[dict[str, str]]]:
    """Newest first: {"recent": [...], "starred": [...]}, what the user typed (not what a
    style made of it). Two queries on the owner and favourite indexes."""
    fields = ("prompt", "negative_prompt", "typed_prompt", "typed_negative_prompt", "preset_name")
    recent = access.own(user).order_by("-id").only(*fields)[:SCAN]
    starred = (
        Favourite.objects.filter(user=user)
        .select_related("generation")
        .order_by("-generation")[:SCAN]
    )
    return {
        "recent": _distinct((_typed(row) for row in recent), RECALL_MAX),
        "starred": _distinct(
            (_typed(fav.generation) for fav in starred if access.can_view(user, fav.generation)),
            RECALL_MAX,
        ),
    }
