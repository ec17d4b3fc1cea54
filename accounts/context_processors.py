from django.http import HttpRequest
from django.utils.functional import SimpleLazyObject

from accounts import services


def accounts(request: HttpRequest) -> dict:
    """First-run facts for every page; lazy, so a page that does not show them pays no
    query (a signed-in user proves an account exists without one)."""
    user = request.user
    return {
        "needs_setup": SimpleLazyObject(
            lambda: not user.is_authenticated and services.needs_setup()
        ),
    }
