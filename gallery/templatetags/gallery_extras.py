"""Template helpers that need a service. The grid's page partial (first page and every next
page) asks for its own starred ids here, in one query per page."""

from django import template

from gallery import routes
from gallery.services import failures, favourites

register = template.Library()


@register.simple_tag(takes_context=True)
def starred_ids(context, items) -> set[int]:
    """`{% starred_ids page.items as starred %}`: the page's starred ids in one query."""
    return favourites.starred_ids(context["request"].user, items)


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
