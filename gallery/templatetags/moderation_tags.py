"""Moderation pieces of the generation page, so that page's template only includes them."""

from django import template

from gallery.forms import ReportForm
from gallery.models import Generation
from gallery.services import moderation, similarity

register = template.Library()


@register.inclusion_tag("gallery/_report_panel.html", takes_context=True)
def report_panel(context: template.Context, item: Generation) -> dict:
    """The "Report" disclosure for a signed-in visitor who may report this image."""
    request = context.get("request")
    user = getattr(request, "user", None)
    if user is None or not moderation.can_report(user, item):
        return {"show": False}
    return {
        "show": True,
        "item": item,
        "already_reported": moderation.has_open_report(user, item),
        "form": ReportForm(auto_id=f"report-{item.public_id}-%s"),
        "csrf_token": context.get("csrf_token"),
    }


@register.inclusion_tag("gallery/moderation/_similar.html", takes_context=True)
def similar_images(context: template.Context, item: Generation) -> dict:
    """ "Similar images": those the visitor may see in the grid, nearest first. The viewer
    (lightbox) can render it for its current image with `{% similar_images item %}`."""
    request = context.get("request")
    user = getattr(request, "user", None)
    if user is None or not item.has_image:
        return {"matches": []}
    return {"matches": similarity.similar(user, item), "item": item, "viewer": user}


@register.inclusion_tag("gallery/moderation/_appeal.html", takes_context=True)
def appeal_panel(context: template.Context, item: Generation) -> dict:
    """The owner's appeal: its form while they may appeal, else its state and decision."""
    request = context.get("request")
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated or item.owner_id != user.pk:
        return {"show": False}
    found = moderation.appeal_of(item)
    can = found is None and moderation.can_appeal(user, item)
    return {
        "show": bool(found or can),
        "appeal": found,
        "can_appeal": can,
        "item": item,
        "note_max": moderation.APPEAL_NOTE_MAX,
        "csrf_token": context.get("csrf_token"),
    }


@register.filter
def blurred_for(item: Generation, user) -> bool:
    """`{% if item|blurred_for:user %}`: shown blurred until clicked (the scan's score)."""
    return moderation.blurred(user, item)
