"""The gallery grid (the home page), with the prompt form and the filter bar above it."""

from django.contrib.messages import get_messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.cache import patch_vary_headers
from django.views.decorators.http import require_safe

from gallery.forms import GalleryFilterForm, GenerateForm
from gallery.services import browse, live, page_cache


@require_safe
def index(request: HttpRequest) -> HttpResponse:
    key = page_cache.key_for(
        method=request.method,
        signed_in=request.user.is_authenticated,
        has_messages=bool(len(get_messages(request))),  # len() reads them without using them
        full_path=request.get_full_path(),
        language=getattr(request, "LANGUAGE_CODE", ""),
        htmx=bool(request.htmx),
    )
    kept = page_cache.cached(key) if key else None
    if kept is not None:
        response = HttpResponse(kept.body, content_type=kept.content_type)
        # The web server may keep this whole answer while the page is valid (config/asgi.py).
        response.kept_page = kept  # type: ignore[attr-defined]
    else:
        before = page_cache.stamp()
        response = render_index(request, GenerateForm(initial={"count": 1}, user=request.user))
        if key and (
            page := page_cache.keep(
                key,
                before=before,
                status=response.status_code,
                body=response.content,
                content_type=response["Content-Type"],
                # A CSRF token or a session write would set a cookie on the way out.
                sets_cookies=bool(
                    response.cookies
                    or request.META.get("CSRF_COOKIE_NEEDS_UPDATE")
                    or request.session.modified
                ),
            )
        ):
            response.kept_page = page  # type: ignore[attr-defined]
    # The same URL answers a fragment to htmx and differs for a signed-in cookie.
    patch_vary_headers(response, ("Cookie", "HX-Request"))
    return response


def render_index(request: HttpRequest, form: GenerateForm, status: int = 200) -> HttpResponse:
    # On a failed POST, request.GET is empty: the grid shows its unfiltered first page.
    query = browse.GalleryQuery.from_params(request.GET, request.user)
    cursor = browse.cursor_from(request.GET, query)
    page = browse.gallery_page(request.user, query=query, cursor=cursor)
    template = "gallery/index.html"
    if request.htmx and cursor:
        template += "#grid-page"  # infinite scroll asks for the next page only
    context = {
        "form": form,
        "filter_form": GalleryFilterForm.for_query(query, request.user.is_authenticated),
        "query": query,
        "page": page,
        # Carried by every tile link, so the detail page knows its neighbours in this list.
        "detail_qs": query.querystring(),
        "next_qs": (
            query.querystring(**{query.cursor_param: page.next_cursor}) if page.next_cursor else ""
        ),
        # Tiles in the first screenful load at once; the rest (and later pages) lazily.
        "eager_tiles": 0 if cursor else 12,
        # The user's own work in progress, at the front of the first page (live tiles).
        "in_progress": (
            live.in_progress(request.user)
            if not cursor and not query.is_filtered and request.user.is_authenticated
            else []
        ),
    }
    return render(request, template, context, status=status)
