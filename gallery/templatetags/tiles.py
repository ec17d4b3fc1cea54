"""The grid's tiles (the gallery, a collection, a share link), written in Python.

A page has 48 of them, and as a template the tile took most of the page's time: every
variable and condition of it went through the template engine 48 times (docs/decisions.md,
"One tile, three pages, written in Python"). Here the same markup is a few string joins a
tile; the star is written here too, for the image's page as well (`_star.html` is
`{% star %}`); a collection manager's tools stay a template
(`_collection_tile_actions.html`), rendered through the page's own context.

    {% tiles page.items grid=True menu=True detail_qs=detail_qs %}     the gallery
    {% tiles page.items menu=True actions=... %}                        a collection
    {% tiles pairs hide_prompts=link.hide_prompts eager=1 %}            a share link's
        (item, urls) pairs, whose links and files are the link's own
    {% tile_more %}                                                     the ⋯ button alone

- grid: the owner's badges, the blur of a risky image for others, the star.
- menu: the ⋯ button (js/tile-menu.js), where the list carries data-tile-menu-url.
- eager: this many tiles load their image at once, the rest lazily (the page's
  eager_tiles by default).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from html import escape

from django import template
from django.template.base import Template
from django.templatetags.static import static
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext, pgettext

from gallery import routes
from gallery.models import Generation
from gallery.services import favourites, moderation
from gallery.services.access import AnyUser
from gallery.templatetags.gallery_extras import clip

register = template.Library()


def more_button(icons: str) -> str:
    """A tile's ⋯ button (`icons`: the icon sheet's URL, escaped). Out of the tab order (one
    stop a tile): the keyboard opens the menu with Shift+F10 or the menu key on the tile."""
    label = escape(gettext("More actions"))
    return (
        f'<button type="button" class="tile-more" tabindex="-1" aria-haspopup="dialog" '
        f'aria-label="{label}" title="{label}" data-tile-menu>'
        f'<svg viewBox="0 0 24 24" aria-hidden="true"><use href="{icons}#more"></use>'
        f"</svg></button>"
    )


@register.simple_tag
def tile_more() -> SafeString:
    """`{% tile_more %}`: the ⋯ button of a live tile or a row of My history."""
    return mark_safe(more_button(escape(static("gallery/icons.svg"))))  # noqa: S308 (escaped)


@dataclass(frozen=True)
class StarLabels:
    """The star's words in the active language, escaped: asked once a page, not once a tile."""

    star: str
    starred: str
    title_star: str
    title_unstar: str

    @classmethod
    def now(cls) -> StarLabels:
        return cls(
            star=escape(pgettext("star button", "Star")),
            starred=escape(pgettext("star button", "Starred")),
            title_star=escape(gettext("Star this image")),
            title_unstar=escape(gettext("Starred: click to unstar")),
        )


def star_form(
    item: Generation,
    *,
    variant: str,
    starred: bool,
    csrf_token: str,
    next_path: str,
    icons: str,
    labels: StarLabels,
) -> str:
    """The star toggle of one image: htmx swaps the form for the view's answer; without
    JavaScript it posts and comes back to `next_path`. Variants: "tile" (an icon out of the
    tab order), "detail" (a labelled button), "" (an icon). `labels`: StarLabels.now()."""
    url = escape(routes.route("gallery:star", item.public_id))
    token = (
        f'<input type="hidden" name="csrfmiddlewaretoken" value="{escape(csrf_token)}">'
        if csrf_token and csrf_token != "NOTPROVIDED"  # noqa: S105 (Django's "no token")
        else ""
    )
    button = "star is-starred" if starred else "star"
    extra = ' tabindex="-1"' if variant == "tile" else ""
    if variant == "detail":
        button += " button"
    else:
        title = labels.title_unstar if starred else labels.title_star
        extra += f' aria-label="{labels.star}" title="{title}"'
    label = (
        f"<span>{labels.starred if starred else labels.star}</span>" if variant == "detail" else ""
    )
    return (
        f'<form class="star-form{f" star-{escape(variant)}" if variant else ""}" method="post" '
        f'action="{url}" hx-post="{url}" hx-target="this" hx-swap="outerHTML">{token}'
        f'<input type="hidden" name="next" value="{escape(next_path)}">'
        f'<input type="hidden" name="variant" value="{escape(variant)}">'
        f'<button type="submit" class="{button}" aria-pressed="{"true" if starred else "false"}"'
        f'{extra} data-testid="star"><svg viewBox="0 0 24 24" aria-hidden="true">'
        f'<use href="{icons}#star"></use></svg>{label}</button></form>'
    )


@register.simple_tag(takes_context=True)
def star(context: template.Context) -> SafeString:
    """`{% star %}`: the star of the context's item, as its variant and starred say."""
    return mark_safe(  # noqa: S308 (escaped inside)
        star_form(
            context["item"],
            variant=str(context.get("variant") or ""),
            starred=bool(context.get("starred")),
            csrf_token=str(context.get("csrf_token") or ""),
            next_path=context["request"].get_full_path(),
            icons=escape(static("gallery/icons.svg")),
            labels=StarLabels.now(),
        )
    )


@register.simple_tag(takes_context=True)
def tiles(
    context: template.Context,
    items: Iterable,
    *,
    grid: bool = False,
    menu: bool = False,
    detail_qs: str = "",
    actions: str = "",
    hide_prompts: bool = False,
    eager: int | None = None,
) -> SafeString:
    """`{% tiles page.items ... %}`: the page's tiles, in order (see the module's doc)."""
    user = context["user"]
    engine = context.template.engine if context.template else template.Engine.get_default()
    rows = list(items)
    generations = [row[0] if isinstance(row, tuple) else row for row in rows]
    # Only a signed-in grid has stars: asking a visitor's page for a CSRF token would give it
    # a cookie (and keep it out of the page cache).
    stars = grid and user.is_authenticated
    page = _Page(
        context=context,
        user=user,
        signed_in=user.is_authenticated,
        icons=escape(static("gallery/icons.svg")),
        grid=grid,
        menu=menu,
        detail_qs=detail_qs,
        hide_prompts=hide_prompts,
        eager=int(context.get("eager_tiles") or 0) if eager is None else eager,
        stars=stars,
        starred=favourites.starred_ids(user, generations) if stars else set(),
        csrf_token=str(context.get("csrf_token") or "") if stars else "",
        next_path=context["request"].get_full_path() if stars else "",
        actions=engine.get_template(actions) if actions else None,
        shared_label=escape(gettext("Shared image")),
        private_label=escape(gettext("Private")),
        star_labels=StarLabels.now() if stars else None,
    )
    parts = []
    for n, row in enumerate(rows, start=1):
        item, urls = row if isinstance(row, tuple) else (row, None)
        parts.append(page.tile(n, item, urls))
    # Every value in the tiles went through escape(); the star and actions are templates'.
    return mark_safe("\n".join(parts))  # noqa: S308


@dataclass
class _Page:
    """What every tile of one page shares, asked once."""

    context: template.Context
    user: AnyUser
    signed_in: bool
    icons: str  # escaped, as the other strings here that go into the markup unchanged
    grid: bool
    menu: bool
    detail_qs: str
    hide_prompts: bool
    eager: int
    stars: bool
    starred: set[int]
    csrf_token: str
    next_path: str
    actions: Template | None
    shared_label: str
    private_label: str
    star_labels: StarLabels | None  # where the page has stars

    def tile(self, n: int, item: Generation, urls: dict | None) -> str:
        has_image = item.has_image
        classes = "tile" if has_image else f"tile tile-{escape(item.status)}"
        if self.grid and item.scan_risk is not None and moderation.blurred(self.user, item):
            classes += " is-blurred"
        if urls:
            href, thumb, thumb2 = urls["page"], urls["thumbnail"], urls["thumbnail_2x"]
        else:
            href = item.get_absolute_url() + self.detail_qs
            thumb, thumb2 = (item.thumbnail_url, item.thumbnail_2x_url) if has_image else ("", "")
        link = f'<a href="{escape(href)}"'
        if self.hide_prompts:
            link += f' title="{self.shared_label}"'
        if not urls:
            link += " data-lightbox"
        html = [
            f'<li class="{classes}" id="t-{escape(item.public_id)}" '
            f'style="--ph: {escape(item.placeholder_color or "#888")}">',
            link + ">",
        ]
        if has_image:
            alt = self.shared_label if self.hide_prompts else escape(clip(item.prompt, 200))
            lazy = ' loading="lazy"' if n > self.eager else ""
            thumb, thumb2 = escape(thumb), escape(thumb2)
            html.append(
                f'<img src="{thumb}" srcset="{thumb} 1x, {thumb2} 2x" width="256" height="256" '
                f'alt="{alt}"{lazy} decoding="async">'
            )
        else:
            html.append(
                f'<span class="tile-state"><span class="badge badge-{escape(item.status)}">'
                f"{escape(item.get_status_display())}</span>{escape(clip(item.prompt, 90))}</span>"
            )
        if self.grid and self.signed_in and item.owner_id == self.user.pk:
            html.append(self.badges(item))
        if not self.hide_prompts:
            caption = escape(clip(item.prompt, 90))
            html.append(f'<span class="tile-caption" aria-hidden="true">{caption}</span>')
        html.append("</a>")
        if self.menu and has_image:
            html.append(more_button(self.icons))
        if self.star_labels is not None and has_image:
            html.append(
                star_form(
                    item,
                    variant="tile",
                    starred=item.id in self.starred,
                    csrf_token=self.csrf_token,
                    next_path=self.next_path,
                    icons=self.icons,
                    labels=self.star_labels,
                )
            )
        if self.actions is not None:
            with self.context.push(item=item):
                html.append(self.actions.render(self.context))
        html.append("</li>")
        return "".join(html)

    def badges(self, item: Generation) -> str:
        """What only the owner sees about their tile (a tile without its image shows its
        status instead)."""
        private = item.visibility == Generation.Visibility.PRIVATE
        moderated = item.moderation != Generation.Moderation.VISIBLE
        if not (private or moderated):
            return ""
        html = ['<span class="tile-badges">']
        if private:
            html.append(
                '<span class="badge badge-private" data-testid="private-badge">'
                f'<svg viewBox="0 0 24 24" aria-hidden="true"><use href="{self.icons}#lock">'
                f"</use></svg>{self.private_label}</span>"
            )
        if moderated:
            label = escape(item.get_moderation_display())
            html.append(f'<span class="badge badge-moderation">{label}</span>')
        html.append("</span>")
        return "".join(html)
