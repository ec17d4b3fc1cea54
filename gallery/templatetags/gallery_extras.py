"""Template helpers that need a service. The grid's page partial (first page and every next
page) asks for its own starred ids here, in one query per page."""

from django import template

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
