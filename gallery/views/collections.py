"""Collections: the list of one's own, a collection's page (a keyset-paged grid with its
cover), and adding or removing images from the detail page, the viewer and My history."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from core.models import SiteSettings
from gallery.forms_sharing import CollectionForm
from gallery.models import Collection
from gallery.services import access, collections, pagination
from gallery.views import previews
from gallery.views.helpers import redirect_back, viewable_or_404


def _viewable_or_404(
    request: HttpRequest, public_id: str, site: SiteSettings | None = None
) -> Collection:
    found = access.viewable_collection(request.user, public_id, site)
    if found is None:
        raise Http404("No such collection.")
    return found


def _manageable_or_404(request: HttpRequest, public_id: str) -> Collection:
    found = access.manageable_collection(request.user, public_id)
    if found is None:
        raise Http404("No such collection.")
    return found


@require_http_methods(["GET", "HEAD", "POST"])
@login_required
def collection_list(request: HttpRequest) -> HttpResponse:
    """Your collections, with their covers, and the form to make one."""
    form = CollectionForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        made = collections.create(request.user, **form.cleaned_data)
        messages.success(request, _("Made the collection “%(name)s”.") % {"name": made.name})
        return redirect(made)
    mine = list(access.own_collections(request.user))
    context = {
        "collections": mine,
        "covers": collections.covers(request.user, mine),
        "form": form,
    }
    return render(request, "gallery/collections.html", context, status=400 if form.errors else 200)


@require_safe
def collection(request: HttpRequest, public_id: str) -> HttpResponse:
    site = SiteSettings.load()  # read once for every access question of the page
    found = _viewable_or_404(request, public_id, site)
    before = pagination.parse_cursor(request.GET.get("before"))
    page = collections.page(request.user, found, before=before, site=site)
    template = "gallery/collection.html"
    if request.htmx and before:
        template += "#collection-page"  # infinite scroll asks for the next page only
    cover = collections.cover(request.user, found, page, site) if before is None else None
    context = {
        "collection": found,
        "page": page,
        "cover": cover,
        "can_manage": access.can_manage_collection(request.user, found),
        "next_qs": f"?before={page.next_cursor}" if page.next_cursor else "",
        "eager_tiles": 0 if before else 12,
        "form": CollectionForm(instance=found, auto_id="edit-%s"),
        "og": previews.for_collection(request, found, cover, site) if before is None else None,
    }
    return render(request, template, context)


@require_POST
@login_required
def edit(request: HttpRequest, public_id: str) -> HttpResponse:
    found = _manageable_or_404(request, public_id)
    form = CollectionForm(request.POST, instance=found)
    if form.is_valid():
        form.save()
        messages.success(request, _("Saved."))
    else:
        messages.error(request, " ".join(e for errors in form.errors.values() for e in errors))
    return redirect(found)


@require_POST
@login_required
def delete(request: HttpRequest, public_id: str) -> HttpResponse:
    found = _manageable_or_404(request, public_id)
    name = found.name
    found.delete()  # its items and share links go with it; the images stay
    note = _("Deleted the collection “%(name)s”. Its images are still yours.")
    messages.success(request, note % {"name": name})
    return redirect("gallery:collections")


@require_POST
@login_required
def remove(request: HttpRequest, public_id: str) -> HttpResponse:
    found = _manageable_or_404(request, public_id)
    count = collections.remove(request.user, found, request.POST.getlist("ids"))
    messages.success(
        request,
        ngettext("Removed %(count)s image.", "Removed %(count)s images.", count) % {"count": count},
    )
    return redirect_back(request, found)


@require_POST
@login_required
def set_cover(request: HttpRequest, public_id: str) -> HttpResponse:
    found = _manageable_or_404(request, public_id)
    if collections.set_cover(request.user, found, request.POST.get("id", "")):
        messages.success(request, _("Cover changed."))
    return redirect_back(request, found)


@require_http_methods(["GET", "HEAD", "POST"])
@login_required
def collect(request: HttpRequest, public_id: str) -> HttpResponse:
    """The "add to collection" picker for one image: GET shows the user's collections
    (ticked where the image is in one); POST adds to or removes from one, or makes a new one
    with the image in it. htmx swaps the picker in place; without JS, a page and redirects."""
    item = viewable_or_404(request, public_id)
    if not access.can_collect(request.user, item):
        raise Http404("No such image.")
    status = 200
    note = ""
    if request.method == "POST":
        action = request.POST.get("action", "add")
        try:
            if action == "new":
                made = collections.create(request.user, request.POST.get("name", ""))
                collections.add(request.user, made, [item])
                note = _("Added to the new collection “%(name)s”.") % {"name": made.name}
            else:
                target = access.own_collections(request.user).filter(
                    public_id=request.POST.get("collection", "")
                )
                chosen = target.first()
                if chosen is None:
                    raise Http404("No such collection.")
                if action == "remove":
                    collections.remove(request.user, chosen, [item.public_id])
                    note = _("Removed from “%(name)s”.") % {"name": chosen.name}
                else:
                    collections.add(request.user, chosen, [item])
                    note = _("Added to “%(name)s”.") % {"name": chosen.name}
        except ValidationError as exc:
            note, status = exc.messages[0], 400
        except PermissionDenied:
            raise Http404("No such collection.") from None
        if not request.htmx and status == 200:
            messages.success(request, note)
            return redirect_back(request, item)
    context = {
        "item": item,
        "collections": list(access.own_collections(request.user).only("public_id", "name")),
        "containing": collections.containing(request.user, item),
        "note": note,
        "name_max": collections.NAME_MAX,
        "next": request.POST.get("next") or request.GET.get("next") or item.get_absolute_url(),
    }
    template = "gallery/collect.html"
    if request.htmx:
        template += "#picker"
    return render(request, template, context, status=status)


def bulk_add(request: HttpRequest, images: list, back: str) -> HttpResponse:
    """My history's "Add to collection" (the history view hands over the user's own
    selected images)."""
    chosen = (
        access.own_collections(request.user)
        .filter(public_id=request.POST.get("collection", ""))
        .first()
    )
    if chosen is None:
        messages.error(request, _("Choose a collection first."))
        return redirect(back)
    try:
        count = collections.add(request.user, chosen, images)
    except ValidationError as exc:
        messages.error(request, exc.messages[0])
        return redirect(back)
    if count:
        note = ngettext(
            "Added %(count)s image to “%(name)s”.", "Added %(count)s images to “%(name)s”.", count
        )
    else:
        note = _("Added 0 images to “%(name)s” (they were already in it, or have no image).")
    messages.success(request, note % {"count": count, "name": chosen.name})
    return redirect(back)
