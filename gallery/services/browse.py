"""Read side of the gallery: what a page shows, filtered, searched and keyset-paginated.

Pages are cut by the pagination module (keyset, on the id). Every sort, filter and search
orders by id (descending for "newest", ascending for "oldest"), so the cursor is always the
last id shown.

Visibility is never decided here: every query starts from `access.listable` (the grid) or
`access.own` ("mine", and a user's own queued, running or failed generations).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, replace
from urllib.parse import urlencode

from django.conf import settings
from django.contrib.auth.models import User
from django.db.models import QuerySet
from django.utils import timezone

from gallery.models import Favourite, Generation
from gallery.services import access, pagination, search

SORTS = ("newest", "oldest")
# "" is the gallery itself: finished images. The others list only the user's own rows.
STATUSES = ("", *Generation.Status.values)
OWN_ONLY_STATUSES = frozenset(STATUSES) - {"", Generation.Status.SUCCEEDED}
TILE_FIELDS = (
    "id",
    "public_id",
    "prompt",
    "status",
    "moderation",
    "visibility",  # which URL its thumbnails have (Generation.media_url)
    "scan_risk",  # blurred for visitors at or above the site's threshold (not its owner)
    "owner",  # own tiles carry their private and moderation badges
    "thumbnail",
    "thumbnail_2x",
    "width",
    "height",
    "placeholder_color",
)


@dataclass(frozen=True)
class GalleryQuery:
    """What the grid is asked to show: the search, the filters and the sort, as in the URL.

    Built from request parameters with `from_params`, which drops anything invalid or not
    allowed for the user (a visitor cannot ask for "mine"), so a hand-edited URL never errors.
    """

    q: str = ""
    mine: bool = False
    starred: bool = False
    status: str = ""
    since: dt.date | None = None
    until: dt.date | None = None
    sort: str = "newest"

    @classmethod
    def from_params(cls, params: Mapping[str, str], user: access.AnyUser) -> GalleryQuery:
        signed_in = user.is_authenticated
        status = params.get("status", "")
        sort = params.get("sort", "newest")
        since, until = _parse_date(params.get("since")), _parse_date(params.get("until"))
        if since and until and since > until:
            since, until = until, since  # what the user meant
        return cls(
            q=" ".join(params.get("q", "").split())[: search.MAX_TEXT],
            mine=signed_in and _flag(params.get("mine")),
            starred=signed_in and _flag(params.get("starred")),
            status=status if signed_in and status in STATUSES else "",
            since=since,
            until=until,
            sort=sort if sort in SORTS else "newest",
        )

    def to_params(self) -> dict[str, str]:
        """The non-default parts, for URLs (and so the shortest shareable link)."""
        params = {
            "q": self.q,
            "mine": "1" if self.mine else "",
            "starred": "1" if self.starred else "",
            "status": self.status,
            "since": self.since.isoformat() if self.since else "",
            "until": self.until.isoformat() if self.until else "",
            "sort": "" if self.sort == "newest" else self.sort,
        }
        return {key: value for key, value in params.items() if value}

    def querystring(self, **extra: str | int) -> str:
        """``?`` plus the parameters (and `extra`, e.g. a cursor), or "" when there are none."""
        params = {**self.to_params(), **{k: str(v) for k, v in extra.items()}}
        return "?" + urlencode(params) if params else ""

    @property
    def is_filtered(self) -> bool:
        return bool(self.to_params().keys() - {"sort"})

    @property
    def newest_first(self) -> bool:
        return self.sort == "newest"

    @property
    def cursor_param(self) -> str:
        return "before" if self.newest_first else "after"

    def without(self, *fields: str) -> GalleryQuery:
        defaults = GalleryQuery()
        return replace(self, **{f: getattr(defaults, f) for f in fields})

    def rows(self, user: access.AnyUser) -> QuerySet[Generation]:
        """Every row this query selects for `user`, unordered and unpaginated."""
        if self.status in OWN_ONLY_STATUSES:
            # Queued, running or failed: only ever one's own.
            rows = access.own(user).filter(status=self.status)
        elif self.mine:
            rows = access.own(user).with_image()
        else:
            rows = access.listable(user)
            if self.status:
                rows = rows.filter(status=self.status)
        if self.starred and isinstance(user, User):  # from_params allows it signed in only
            rows = rows.filter(id__in=Favourite.objects.filter(user=user).values("generation_id"))
        if self.since:
            rows = rows.filter(created_at__gte=_start_of(self.since))
        if self.until:
            rows = rows.filter(created_at__lt=_start_of(self.until + dt.timedelta(days=1)))
        return search.narrow(rows, self.parsed)

    @property
    def parsed(self) -> search.SearchQuery:
        return search.parse(self.q)

    def ordered(self, user: access.AnyUser, after: int | None = None) -> QuerySet[Generation]:
        """`rows` in this query's order, starting after the row with id `after` if given."""
        rows = self.rows(user)
        key = search.key(self.parsed)
        if after is not None:
            rows = rows.alias(_key=key).filter(
                **{"_key__lt" if self.newest_first else "_key__gt": after}
            )
        return rows.order_by(key.desc() if self.newest_first else key.asc())


def cursor_from(params: Mapping[str, str], query: GalleryQuery) -> int | None:
    return pagination.parse_cursor(params.get(query.cursor_param))


def gallery_page(
    user: access.AnyUser,
    before: int | None = None,
    page_size: int | None = None,
    query: GalleryQuery | None = None,
    cursor: int | None = None,
) -> pagination.Page[Generation]:
    """One page of the grid: one query, whatever the page's depth or the table's size."""
    query = query or GalleryQuery()
    cursor = cursor if cursor is not None else before
    page_size = page_size or settings.GALLERY_PAGE_SIZE
    return pagination.cut(query.ordered(user, after=cursor).only(*TILE_FIELDS), page_size)


def api_page(
    user: access.AnyUser, query: GalleryQuery, cursor: int | None, page_size: int
) -> pagination.Page[Generation]:
    """One page for the JSON API: the grid's rows and order, as whole rows with their
    owners (the API shows every field, so no row is read twice)."""
    return pagination.cut(query.ordered(user, after=cursor).select_related("owner"), page_size)


def neighbours(
    user: access.AnyUser, query: GalleryQuery, item: Generation
) -> tuple[Generation | None, Generation | None]:
    """The rows just newer and just older than `item` within `query`: two one-row queries
    on the same indexes as the grid. `item` itself need not match the query."""
    newest, oldest = replace(query, sort="newest"), replace(query, sort="oldest")
    older = newest.ordered(user, after=item.id).only("id", "public_id").first()
    newer = oldest.ordered(user, after=item.id).only("id", "public_id").first()
    return newer, older


def _flag(value: str | None) -> bool:
    return value in ("1", "on", "true", "yes")


def _parse_date(value: str | None) -> dt.date | None:
    try:
        day = dt.date.fromisoformat(value) if value and len(value) == 10 else None
    except ValueError:
        return None
    # Far-off years would overflow time-zone arithmetic; no image is that old or that new.
    return day if day and 1900 <= day.year <= 9000 else None


def _start_of(day: dt.date) -> dt.datetime:
    """Midnight at the start of `day` in the site's time zone."""
    return timezone.make_aware(dt.datetime.combine(day, dt.time.min))
