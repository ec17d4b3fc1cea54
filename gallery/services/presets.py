"""Style presets: what the composer offers, and the prompts a preset makes from the user's."""

from __future__ import annotations

from gallery.models import StylePreset


def offered() -> list[StylePreset]:
    """The enabled presets, in the order staff gave them (with their example images)."""
    return list(StylePreset.objects.filter(enabled=True).select_related("example"))


def apply(preset: StylePreset, prompt: str, negative_prompt: str) -> tuple[str, str]:
    """The prompt and negative prompt to send: the user's prompt put into the template, and
    the preset's negative prompt added to theirs."""
    sent = preset.prompt_template.replace("{prompt}", prompt).strip()
    negatives = [text for text in (negative_prompt, preset.negative_prompt.strip()) if text]
    return sent, ", ".join(negatives)
