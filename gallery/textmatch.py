"""How a blocked term matches a prompt: pure text rules, with no imports of the project, so
that the model (which validates terms) and the blocklist service (which matches prompts)
share them without the model importing a service.

Matching works on a normalised form of the text, so that trivial variations do not slip
through: Unicode compatibility forms folded (NFKC: full-width letters, ligatures), accents
dropped, case folded, and every run of punctuation or whitespace turned into one space.
Letters spelt out one at a time ("b.a.d", "b a d") are joined back into a word.
"""

from __future__ import annotations

import functools
import re
import unicodedata

from django.utils.translation import gettext as _

_SEPARATORS = re.compile(r"[\W_]+")
_SPELT_OUT = re.compile(r"\b\w(?: \w\b)+")  # "b a d": single characters one space apart


def normalize(text: str) -> str:
    """Lowercase words separated by single spaces, accents and punctuation gone."""
    text = unicodedata.normalize("NFKD", unicodedata.normalize("NFKC", text))
    text = "".join(c for c in text if not unicodedata.combining(c)).casefold()
    return _SEPARATORS.sub(" ", text).strip()


def variants(text: str) -> set[str]:
    """The normalised text, and the same with spelt-out letters joined into words."""
    plain = normalize(text)
    return {plain, _SPELT_OUT.sub(lambda m: m.group(0).replace(" ", ""), plain)}


@functools.lru_cache(maxsize=1024)
def compile_term(term: str, *, pattern: bool) -> re.Pattern[str]:
    """A regular expression (case-insensitive), or a word or phrase matched as whole words
    of the normalised text. Raises re.error for a pattern that does not compile."""
    if pattern:
        return re.compile(term, re.IGNORECASE)
    return re.compile(rf"(?<!\w){re.escape(normalize(term))}(?!\w)")


def term_error(term: str, *, pattern: bool) -> str | None:
    """Why a term could never be used (a pattern that does not compile, a word term with no
    letter or digit), or None."""
    if pattern:
        try:
            re.compile(term)
        except re.error as exc:
            return _("Not a valid regular expression: %(error)s.") % {"error": exc}
    elif not normalize(term):
        return _("A word term needs at least one letter or digit.")
    return None
