"""Thin views: parse the request, call a service, render. No business rules here."""

import mimetypes

from django.contrib import messages
from django.contrib.admin.views.decorators import staff_member_required
from django.core.exceptions import ValidationError
from django.core.files.storage import default_storage
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_POST

from gallery.forms import GenerateForm
from gallery.models import Generation
from gallery.services import browse
from gallery.services import generation as pipeline


@require_GET
def index(request: HttpRequest) -> HttpResponse:
    return _render_index(request, GenerateForm())


@require_POST
def generate(request: HttpRequest) -> HttpResponse:
    form = GenerateForm(request.POST)
    if form.is_valid():
        try:
            created = pipeline.submit(
                prompt=form.cleaned_data["prompt"],
                negative_prompt=form.cleaned_data["negative_prompt"],
            )
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            return redirect(created)
    return _render_index(request, form, status=400)


def _render_index(request: HttpRequest, form: GenerateForm, status: int = 200) -> HttpResponse:
    before = browse.parse_cursor(request.GET.get("before"))
    page = browse.gallery_page(before=before)
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


@require_GET
def generation(request: HttpRequest, public_id: str) -> HttpResponse:
    item = get_object_or_404(Generation, public_id=public_id)
    return render(request, "gallery/generation.html", {"item": item})


@require_GET
def generation_status(request: HttpRequest, public_id: str) -> HttpResponse:
    """The live status panel; htmx polls it until the generation is finished."""
    item = get_object_or_404(Generation, public_id=public_id)
    return render(request, "gallery/generation.html#detail", {"item": item})


@require_POST
def retry(request: HttpRequest, public_id: str) -> HttpResponse:
    item = get_object_or_404(Generation, public_id=public_id)
    try:
        pipeline.retry(item)
    except ValidationError as exc:
        messages.error(request, exc.messages[0])
    return redirect(item)


@require_POST
@staff_member_required
def delete(request: HttpRequest, public_id: str) -> HttpResponse:
    item = get_object_or_404(Generation, public_id=public_id)
    pipeline.delete(item)
    messages.success(request, "The image was deleted.")
    return redirect("gallery:index")


@require_GET
def media(request: HttpRequest, public_id: str, filename: str) -> FileResponse:
    """Serve one file of a generation. Only names that belong to the row are served, so no
    other file under the media root can be reached, whatever the URL says."""
    item = get_object_or_404(Generation.objects.succeeded(), public_id=public_id)
    field = next((f for f in item.file_fields() if f.name.rsplit("/", 1)[-1] == filename), None)
    if field is None:
        raise Http404("No such file.")
    try:
        handle = default_storage.open(field.name, "rb")
    except FileNotFoundError:
        raise Http404("The file is missing from storage.") from None
    content_type = mimetypes.guess_type(filename)[0] or "application/octet-stream"
    download = request.GET.get("download") == "1" and field.name == item.original.name
    response = FileResponse(
        handle,
        content_type=content_type,
        as_attachment=download,
        filename=f"{item.public_id}.{filename.rsplit('.', 1)[-1]}",
    )
    # Names carry the claim token, so a URL's content never changes: cache it for good.
    response["Cache-Control"] = "private, max-age=31536000, immutable"
    return response
