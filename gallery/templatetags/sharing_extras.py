"""Small helpers for the collection and share pages."""

from django import template

register = template.Library()


@register.filter
def get_item(mapping: dict, key):
    """`{{ covers|get_item:c.pk }}`: a dict lookup by a variable key."""
    return mapping.get(key) if mapping else None
