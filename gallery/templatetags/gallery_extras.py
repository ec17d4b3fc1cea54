"""Template helpers that need a service, and the small filters the pages share."""

from django import template
from django.utils.translation import gettext

from gallery import routes
from gallery.services import failures

register = template.Library()


@register.filter
def failure_words(item) -> str:
    """`{{ item|failure_words }}`: why it failed and what to do, in the user's words."""
    return failures.in_words(item)


@register.filter
def stored_words(value: str) -> str:
    """`{{ item.moderation_reason|stored_words }}`: text the system stored in English (a hold's
    reason, the stand-in's label; marked with gettext_noop where it is written) in the
    reader's language; anything else, such as a moderator's own words, as it was typed."""
    return gettext(value) if value else value


@register.filter
def clip(value: object, length: int) -> str:
    """`{{ item.prompt|clip:90 }}`: at most `length` characters, ending in "…" when cut. A
    plain slice: truncatechars counts combining characters, which a tile's caption (cut again
    by CSS) does not need, at a cost a grid page pays a hundred times."""
    text = str(value)
    if len(text) <= length:
        return text
    return text[: length - 1].rstrip() + "…"


@register.simple_tag
def route(name: str, *args: object) -> str:
    """`{% route 'gallery:star' item.public_id as star_url %}`: `{% url %}` for a tile's
    links, the pattern reversed once (gallery/routes.py)."""
    return routes.route(name, *args)
