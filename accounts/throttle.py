"""Sign-in delays per account: the other half of sign-in limiting, beside the per-address
rate in `accounts.limits`.

Keyed on the username that was typed, normalised (case, Unicode form, spaces), whether or
not such an account exists, so that the answer never tells which accounts exist. The first
`GALLERY_SIGNIN_ACCOUNT_FREE_FAILURES` wrong passwords cost nothing; each further one makes
the next password check for that username wait, doubling from FIRST_DELAY up to
`GALLERY_SIGNIN_ACCOUNT_MAX_DELAY`. A delay is not a lockout: it always ends, attempts
refused during it do not lengthen it, and password reset is not affected. The right password
forgets the failures.

Each attempt is counted *before* its password is checked, by one conditional UPDATE
(`... WHERE retry_at <= now`), and forgotten again if the password was right: of many
attempts at once, only those the count allows are ever checked. The counts are rows in the
database, like `RateCounter`'s: exact across processes and machines with nothing else to run.
"""

from __future__ import annotations

import math
import unicodedata
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.db.models import Case, F, Value, When
from django.utils.crypto import salted_hmac
from django.utils.translation import gettext as _

from accounts import limits
from accounts.models import SigninFailures

FIRST_DELAY = 5  # seconds: enough to stop a script, hardly noticed by a person
FORGET_AFTER = timedelta(days=1)  # failures followed by a quiet day are forgotten


class SigninDelayed(limits.RateLimited):
    """A password check refused because its username's delay is running. `retry_after` is
    whole seconds, rounded up, as Retry-After wants."""

    def __init__(self, message: str, retry_at: datetime, retry_after: int):
        super().__init__(message, retry_at)
        self.retry_after = retry_after


def enabled() -> bool:
    return settings.GALLERY_SIGNIN_ACCOUNT_MAX_DELAY > 0


def normalise(username: str) -> str:
    """What counts as the same username here: as Django normalises it (NFKC), without
    surrounding spaces, and case-insensitively."""
    return unicodedata.normalize("NFKC", username).strip().casefold()


def _key(username: str) -> str:
    # A keyed hash: what was typed (sometimes a password) is never stored.
    return salted_hmac("accounts.throttle", normalise(username), algorithm="sha256").hexdigest()


def delay_after(failures: int) -> int:
    """Seconds the next check waits once `failures` wrong passwords have been counted."""
    free = settings.GALLERY_SIGNIN_ACCOUNT_FREE_FAILURES
    cap = settings.GALLERY_SIGNIN_ACCOUNT_MAX_DELAY
    if failures <= free:
        return 0
    doublings = min(failures - free - 1, 32)  # beyond that the cap applies anyway
    return min(cap, FIRST_DELAY * 2**doublings)


def count_attempt(username: str, now: datetime | None = None) -> None:
    """Count one password check for `username`, as a failure until `succeeded()` says
    otherwise; raises SigninDelayed, counting nothing, while its delay runs. Call it before
    checking the password."""
    if not enabled():
        return
    now = now or limits.clock()
    key = _key(username)
    row = SigninFailures.objects.filter(key=key)

    def claim() -> int:
        # Only when no delay is running; a quiet day since the last one starts over.
        return row.filter(retry_at__lte=now).update(
            failures=Case(
                When(retry_at__lt=now - FORGET_AFTER, then=Value(1)),
                default=F("failures") + 1,
            ),
            retry_at=now,
        )

    with transaction.atomic():
        claimed = claim()
        if not claimed:
            try:
                with transaction.atomic():  # a savepoint: the row may exist already
                    SigninFailures.objects.create(key=key, failures=1, retry_at=now)
                claimed = 1
                SigninFailures.objects.filter(retry_at__lt=now - FORGET_AFTER).delete()
            except IntegrityError:
                claimed = claim()
        if claimed:
            # Still in the transaction that counted it: no other attempt sees the row
            # between the count and its delay.
            failures = row.values_list("failures", flat=True).get()
            wait = delay_after(failures)
            if wait:
                row.update(retry_at=now + timedelta(seconds=wait))
            return
        # (A right password may have cleared the row just now: then "1 s" is near enough.)
        retry_at = row.values_list("retry_at", flat=True).first() or now
    seconds = max(1, math.ceil((retry_at - now).total_seconds()))
    raise SigninDelayed(
        _("Too many failed sign-ins for this account. Try again in %(wait)s.")
        % {"wait": limits.in_words(seconds)},
        retry_at,
        seconds,
    )


def succeeded(username: str) -> None:
    """The right password was given for `username`: forget its failures."""
    if enabled():
        SigninFailures.objects.filter(key=_key(username)).delete()


def check_password(user: AbstractBaseUser, password: str) -> bool:
    """`user.check_password` under the account's delay, for the forms that ask a signed-in
    person for their password again; raises SigninDelayed while the delay runs."""
    count_attempt(user.get_username())
    if user.check_password(password):
        succeeded(user.get_username())
        return True
    return False
