from django.http import HttpRequest
from django.utils.functional import SimpleLazyObject

from accounts import limits, services


def accounts(request: HttpRequest) -> dict:
    """First-run and quota facts for every page; lazy, so a page that shows neither pays
    no query (a signed-in user proves an account exists without one)."""
    user = request.user
    return {
        "needs_setup": SimpleLazyObject(
            lambda: not user.is_authenticated and services.needs_setup()
        ),
        "quota": SimpleLazyObject(lambda: limits.quota_status(user)),
    }
