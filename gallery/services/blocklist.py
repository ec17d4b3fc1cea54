"""The prompt blocklist: terms staff forbid, checked before a generation is recorded.

Matching works on a normalised form of the prompt, so that trivial variations do not slip
through: Unicode compatibility forms folded (NFKC: full-width letters, ligatures), accents
dropped, case folded, and every run of punctuation or whitespace turned into one space.
Letters spelt out one at a time ("b.a.d", "b a d") are joined back into a word.

- A *word* term (a word or a phrase) matches whole words only: "war" blocks "war" and
  "WAR!" but not "software"; "bad word" blocks "bad-word" and "Bad   Word".
- A *pattern* term is a regular expression, searched case-insensitively in the normalised
  text (lowercase words separated by single spaces) and in the raw prompt.

Terms are read from the database on each check (one small query against a generation that
takes seconds); compiled patterns are cached per process by their text.
"""

from __future__ import annotations

import functools
import logging
import re
import unicodedata
from dataclasses import dataclass

from django.core.exceptions import ValidationError

from gallery.models import BlockedAttempt, BlockedTerm

logger = logging.getLogger(__name__)

_SEPARATORS = re.compile(r"[\W_]+")
_SPELT_OUT = re.compile(r"\b\w(?: \w\b)+")  # "b a d": single characters one space apart


def normalize(text: str) -> str:
    """Lowercase words separated by single spaces, accents and punctuation gone."""
    text = unicodedata.normalize("NFKD", unicodedata.normalize("NFKC", text))
    text = "".join(c for c in text if not unicodedata.combining(c)).casefold()
    return _SEPARATORS.sub(" ", text).strip()


def _variants(text: str) -> set[str]:
    """The normalised text, and the same with spelt-out letters joined into words."""
    plain = normalize(text)
    return {plain, _SPELT_OUT.sub(lambda m: m.group(0).replace(" ", ""), plain)}


@functools.lru_cache(maxsize=1024)
def _compile(term: str, kind: str) -> re.Pattern[str]:
    if kind == BlockedTerm.Kind.PATTERN:
        return re.compile(term, re.IGNORECASE)
    words = normalize(term)
    return re.compile(rf"(?<!\w){re.escape(words)}(?!\w)")


def validate_term(term: str, kind: str) -> None:
    """Refuse a term that could never match, or a pattern that does not compile."""
    if kind == BlockedTerm.Kind.PATTERN:
        try:
            re.compile(term)
        except re.error as exc:
            raise ValidationError({"term": f"Not a valid regular expression: {exc}."}) from None
    elif not normalize(term):
        raise ValidationError({"term": "A word term needs at least one letter or digit."})


@dataclass(frozen=True)
class Match:
    term: BlockedTerm


def find(*texts: str) -> Match | None:
    """The first active term any of `texts` contains, or None."""
    texts = tuple(t for t in texts if t)
    if not texts:
        return None
    normalized = [v for t in texts for v in _variants(t)]
    for term in BlockedTerm.objects.filter(active=True).only("id", "term", "kind", "reason"):
        try:
            pattern = _compile(term.term, term.kind)
        except re.error:  # saved around validation (raw SQL): skip it rather than fail all
            logger.warning("Blocked term %s does not compile; ignored", term.pk)
            continue
        candidates = normalized if term.kind == BlockedTerm.Kind.WORD else (*normalized, *texts)
        if any(pattern.search(text) for text in candidates):
            return Match(term)
    return None


def check(prompt: str, negative_prompt: str = "", *, user=None) -> None:
    """Raise ValidationError naming the term's reason (never the term or pattern itself)
    when the prompt or negative prompt contains a blocked term; log the attempt."""
    match = find(prompt, negative_prompt)
    if match is None:
        return
    term = match.term
    BlockedAttempt.objects.create(
        user=user if user is not None and user.is_authenticated else None,
        prompt=prompt,
        negative_prompt=negative_prompt,
        term=term,
        matched=term.term[:200],
        reason=term.reason,
    )
    logger.info("Prompt refused by blocked term %s (user %s)", term.pk, getattr(user, "pk", None))
    # code="blocked": the APIs tell a refused prompt apart from a malformed one.
    message = f"This prompt can't be used on this site ({term.reason}). Please rephrase it."
    raise ValidationError({"prompt": ValidationError(message, code="blocked")})
