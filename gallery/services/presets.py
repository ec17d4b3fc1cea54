"""Style presets: what the composer offers, and the prompts a preset makes from the user's."""

from __future__ import annotations

from gallery.models import Generation, StylePreset
from gallery.services import access
from gallery.services.access import AnyUser


def offered() -> list[StylePreset]:
    """The enabled presets, in the order staff gave them (with their example images)."""
    return list(StylePreset.objects.filter(enabled=True).select_related("example"))


def examples(user: AnyUser, offered: list[StylePreset]) -> dict[int, Generation]:
    """Each preset's example image that `user` may see at its public thumbnail URL, by
    preset id: an example shows only while it is public (staff pick it from the gallery,
    and its owner may make it private or a moderator hide it later)."""
    return {
        preset.pk: preset.example
        for preset in offered
        if preset.example is not None and access.files_viewable_at_public_url(user, preset.example)
    }


def apply(preset: StylePreset, prompt: str, negative_prompt: str) -> tuple[str, str]:
    """The prompt and negative prompt to send: the user's prompt put into the template, and
    the preset's negative prompt added to theirs."""
    sent = preset.prompt_template.replace("{prompt}", prompt).strip()
    negatives = [text for text in (negative_prompt, preset.negative_prompt.strip()) if text]
    return sent, ", ".join(negatives)
