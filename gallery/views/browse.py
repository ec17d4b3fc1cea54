"""The gallery grid (the home page), with the prompt form above it."""

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from gallery.forms import GenerateForm
from gallery.services import browse


@require_GET
def index(request: HttpRequest) -> HttpResponse:
    return render_index(request, GenerateForm())


def render_index(request: HttpRequest, form: GenerateForm, status: int = 200) -> HttpResponse:
    before = browse.parse_cursor(request.GET.get("before"))
    page = browse.gallery_page(request.user, before=before)
    template = "gallery/index.html"
    if request.htmx and before:
        template += "#grid-page"  # infinite scroll asks for the next page only
    context = {
        "form": form,
        "page": page,
        # Tiles in the first screenful load at once; the rest (and later pages) lazily.
        "eager_tiles": 0 if before else 12,
    }
    return render(request, template, context, status=status)
