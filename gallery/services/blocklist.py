"""The prompt blocklist: terms staff forbid, checked before a generation is recorded.

The text rules (normalising, whole words, spelt-out letters) are `gallery.textmatch`'s.

- A *word* term (a word or a phrase) matches whole words only: "war" blocks "war" and
  "WAR!" but not "software"; "bad word" blocks "bad-word" and "Bad   Word".
- A *pattern* term is a regular expression, searched case-insensitively in the normalised
  text (lowercase words separated by single spaces) and in the raw prompt.

Terms are read from the database on each check (one small query against a generation that
takes seconds); compiled patterns are cached per process by their text.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

from gallery import textmatch
from gallery.models import BlockedAttempt, BlockedTerm

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Match:
    term: BlockedTerm


def find(*texts: str) -> Match | None:
    """The first active term any of `texts` contains, or None."""
    texts = tuple(t for t in texts if t)
    if not texts:
        return None
    normalized = [v for t in texts for v in textmatch.variants(t)]
    for term in BlockedTerm.objects.filter(active=True).only("id", "term", "kind", "reason"):
        try:
            pattern = textmatch.compile_term(
                term.term, pattern=term.kind == BlockedTerm.Kind.PATTERN
            )
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
    # The reason is staff's own words, shown as they wrote them.
    message = _("This prompt can't be used on this site (%(reason)s). Please rephrase it.") % {
        "reason": term.reason
    }
    raise ValidationError({"prompt": ValidationError(message, code="blocked")})
