"""Template helpers that need a service, and the small filters the pages share."""

from django import template

from gallery import routes
from gallery.services import failures

register = template.Library()


@register.filter
def failure_words(item) -> str:
    """`{{ item|failure_words }}`: why it failed and what to do, in the user's words."""
    return failures.in_words(item)


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
