"""URLs of the app's own objects, each pattern reversed once and then filled in. A grid page
links each of its 48 tiles to three URLs (its page, two thumbnails), and `reverse()` per
link cost more than the rest of a tile's markup.

Only for values the app made itself (public ids, share tokens, stored file names): they are
filled in quoted as `reverse()` quotes them, but not checked against the path converters."""

import re
from urllib.parse import quote

from django.conf import settings
from django.urls import get_script_prefix, get_urlconf, reverse

# Stand-ins that every converter we fill in (slug, str) accepts and no real URL contains.
_MARK = "zz0route{}0zz"
_SAFE = "/~:@!$&'()*+,;="  # what reverse() leaves unquoted in an argument
_PLAIN = re.compile(r"[\w.~-]*", re.ASCII)  # nothing to quote: most ids and names
_parts: dict[tuple, list[str]] = {}


def route(name: str, *args: object) -> str:
    """`reverse(name, args=args)`, at the cost of a string join after the first call."""
    # A test may swap the URLconf or the script prefix: each has its own reversed pattern.
    key = (name, len(args), get_script_prefix(), get_urlconf() or settings.ROOT_URLCONF)
    parts = _parts.get(key)
    if parts is None:
        marks = [_MARK.format(n) for n in range(len(args))]
        url = reverse(name, args=marks)
        parts = []
        for mark in marks:
            head, url = url.split(mark, 1)
            parts.append(head)
        parts.append(url)
        _parts[key] = parts
    out = [parts[0]]
    for arg, tail in zip(args, parts[1:], strict=True):
        text = str(arg)
        out += [text if _PLAIN.fullmatch(text) else quote(text, safe=_SAFE), tail]
    return "".join(out)
