"""Moderation pieces of the generation page, so that page's template only includes them."""

from django import template

from gallery.forms import ReportForm
from gallery.models import Generation
from gallery.services import moderation

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
