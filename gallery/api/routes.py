"""The JSON API's operations: thin, every rule is a service's (browse, access, generation)."""

from __future__ import annotations

import re

from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.urls import reverse
from django.utils.translation import gettext as _
from ninja import NinjaAPI, Query
from ninja import Status as Reply
from ninja.errors import ValidationError as RequestInvalid
from ninja.openapi.docs import Swagger

from accounts import tokens
from core import http
from gallery.api import auth, errors
from gallery.api.errors import ApiError
from gallery.api.schemas import (
    DEFAULT_PAGE_SIZE,
    Error,
    GenerationIn,
    GenerationOut,
    GenerationPage,
    ListFilters,
)
from gallery.models import Generation
from gallery.services import access, browse, intake, pagination, storage

api = NinjaAPI(
    title="SDXL gallery API",
    version="1",
    description="The gallery's own JSON API: list, search, read, create and delete images.",
    urls_namespace="api-v1",
    # Swagger UI from ninja's own static files (ninja is in INSTALLED_APPS): no CDN, no
    # inline script, and no call to the online spec validator.
    docs=Swagger(settings={"validatorUrl": None}),
    docs_url="/docs",
)

# What a public id can look like (models.new_public_id); anything else is a 404 at once.
PUBLIC_ID = re.compile(r"[a-z0-9]{1,16}")
# Reads are open to the anonymous visitor where the web is; the spec says so with `{}`
# (ninja appends it to the operation's own `BearerToken` requirement).
ANONYMOUS_ALLOWED = {"security": [{}]}
CREATED_HEADERS = {
    "responses": {
        202: {
            "headers": {
                "Location": {
                    "description": "The generation's URL in the API: poll it.",
                    "required": True,
                    "schema": {"type": "string"},
                }
            }
        },
        429: {
            "headers": {
                "Retry-After": {
                    "description": "Seconds until a submission can be accepted again.",
                    "required": True,
                    "schema": {"type": "integer"},
                }
            }
        },
    }
}


# --- Errors: always {"detail": ...} ---------------------------------------------------------


def _reply(request: HttpRequest, error: ApiError) -> HttpResponse:
    """An ApiError in this API's shape: {"detail", "code"}, and "errors" by field."""
    body: dict = {"detail": error.message, "code": error.code}
    if error.fields:
        body["errors"] = [
            {"loc": ["body", field], "msg": message}
            for field, messages in error.fields.items()
            for message in messages
        ]
    response = api.create_response(request, body, status=error.status)
    if error.retry_after is not None:
        response["Retry-After"] = str(error.retry_after)
    if error.status == 401:
        response["WWW-Authenticate"] = 'Bearer realm="api"'
    return response


@api.exception_handler(tokens.TokenError)
def token_refused(request: HttpRequest, exc: tokens.TokenError) -> HttpResponse:
    return _reply(request, errors.from_token_error(exc))


@api.exception_handler(DjangoValidationError)
def refused(request: HttpRequest, exc: DjangoValidationError) -> HttpResponse:
    """Bad input, a blocked prompt or a limit reached, as the service words it."""
    return _reply(request, errors.from_refusal(exc))


@api.exception_handler(RequestInvalid)
def malformed(request: HttpRequest, exc: RequestInvalid) -> HttpResponse:
    # 400 rather than ninja's 422: one status for "your request is wrong".
    body = {"detail": _("The request is not valid."), "errors": exc.errors}
    return api.create_response(request, body, status=400)


# --- Presenting a generation ------------------------------------------------------------------


def present(request: HttpRequest, item: Generation, user: AbstractBaseUser | AnonymousUser) -> dict:
    """The API's view of `item` for `user`: absolute URLs, and the moderation state for
    those who manage it only."""
    manager = access.can_manage(user, item)

    def media(field: str) -> str | None:
        if not item.has_image or not getattr(item, field):
            return None
        return request.build_absolute_uri(item.media_url(field))

    return {
        "id": item.public_id,
        "url": request.build_absolute_uri(item_path(item)),
        "page_url": request.build_absolute_uri(item.get_absolute_url()),
        "status": item.status,
        "status_note": item.status_note,
        "failure_reason": item.failure_reason,
        "failure_code": item.failure_code,
        "prompt": item.prompt,
        "negative_prompt": item.negative_prompt,
        "owner": item.owner.username if item.owner else None,
        "visibility": item.visibility,
        "moderation": item.moderation if manager else None,
        "moderation_reason": item.moderation_reason if manager else None,
        "created_at": item.created_at,
        "finished_at": item.finished_at,
        "width": item.width,
        "height": item.height,
        "format": item.format,
        "original_url": media("original"),
        "thumbnail_url": media("thumbnail"),
        "thumbnail_2x_url": media("thumbnail_2x"),
        "preview_url": (
            request.build_absolute_uri(item.preview_url)
            if item.has_image and (item.preview_image or item.thumbnail_2x)
            else None
        ),
    }


def item_path(item: Generation) -> str:
    return reverse("api-v1:generation", args=[item.public_id])


def _found(item: Generation | None) -> Generation:
    if item is None:
        raise Http404("No such image.")
    return item


def _checked(public_id: str) -> str:
    """What a public id can look like; anything else is a 404 before any query."""
    if not PUBLIC_ID.fullmatch(public_id):
        raise Http404("No such image.")
    return public_id


# --- Operations -------------------------------------------------------------------------------


@api.get(
    "/generations",
    response={200: GenerationPage, 400: Error, 401: Error, 403: Error},
    auth=auth.optional,
    openapi_extra=ANONYMOUS_ALLOWED,
    url_name="generations",
    operation_id="listGenerations",
    tags=["generations"],
    summary="List generations (newest first), searched and filtered",
)
def list_generations(request: HttpRequest, filters: Query[ListFilters]):
    user = request.auth
    f = filters
    if not user.is_authenticated and (f.mine or f.starred or f.status):
        raise tokens.TokenMissing(_("The mine, starred and status filters need a token."))
    params = {
        "q": f.q,
        "mine": "1" if f.mine else "",
        "starred": "1" if f.starred else "",
        "status": f.status or "",
        "since": f.since.isoformat() if f.since else "",
        "until": f.until.isoformat() if f.until else "",
        "sort": f.sort,
    }
    query = browse.GalleryQuery.from_params(params, user)
    after = pagination.parse_cursor(f.cursor)
    if f.cursor is not None and after is None:
        raise DjangoValidationError(_("Not a cursor from this API."), code="bad_cursor")
    page = browse.api_page(user, query, after, f.limit)
    next_cursor = str(page.next_cursor) if page.next_cursor else None
    next_url = None
    if next_cursor:
        extra = {"cursor": next_cursor}
        if f.limit != DEFAULT_PAGE_SIZE:
            extra["limit"] = f.limit
        next_url = request.build_absolute_uri(
            reverse("api-v1:generations") + query.querystring(**extra)
        )
    return {
        "items": [present(request, item, user) for item in page.items],
        "next_cursor": next_cursor,
        "next_url": next_url,
    }


@api.get(
    "/generations/{public_id}",
    response={200: GenerationOut, 401: Error, 403: Error, 404: Error},
    auth=auth.optional,
    openapi_extra=ANONYMOUS_ALLOWED,
    url_name="generation",
    operation_id="getGeneration",
    tags=["generations"],
    summary="One generation: its status, and its image's URLs once done",
)
def get_generation(request: HttpRequest, public_id: str):
    item = _found(access.viewable_item(request.auth, _checked(public_id)))
    return present(request, item, request.auth)


@api.post(
    "/generations",
    response={202: GenerationOut, 400: Error, 401: Error, 403: Error, 429: Error},
    auth=auth.required,
    openapi_extra=CREATED_HEADERS,
    operation_id="createGeneration",
    tags=["generations"],
    summary="Ask for an image; poll the Location URL until it is done",
)
def create_generation(request: HttpRequest, response: HttpResponse, data: GenerationIn):
    item = intake.submit(
        prompt=data.prompt,
        negative_prompt=data.negative_prompt,
        owner=request.auth,
        visibility=data.visibility or "",
        client_ip=http.client_ip(request),
    )
    response["Location"] = request.build_absolute_uri(item_path(item))
    return Reply(202, present(request, item, request.auth))


@api.delete(
    "/generations/{public_id}",
    response={204: None, 401: Error, 403: Error, 404: Error},
    auth=auth.required,
    operation_id="deleteGeneration",
    tags=["generations"],
    summary="Delete a generation and its files (the owner or staff)",
)
def delete_generation(request: HttpRequest, public_id: str):
    # Someone else's image is a 404 whether or not they may see it: nothing to tell apart.
    item = _found(access.manageable_item(request.auth, _checked(public_id)))
    storage.delete(item)
    return Reply(204, None)
