import importlib.util

from django.contrib import admin
from django.http import HttpRequest, HttpResponsePermanentRedirect
from django.templatetags.static import static
from django.urls import include, path
from django.views.decorators.csrf import csrf_exempt
from django.views.i18n import JavaScriptCatalog, set_language

from accounts import views as accounts_views
from gallery.api.routes import api
from gallery.views.health import healthz


def favicon(request: HttpRequest) -> HttpResponsePermanentRedirect:
    """Pages without our <link rel="icon"> (the admin) make browsers ask for /favicon.ico.
    Resolved per request: the static manifest may not exist when URLs are first imported."""
    return HttpResponsePermanentRedirect(static("gallery/favicon.svg"))


urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("favicon.ico", favicon),
    path("admin/", admin.site.urls),
    # The language picker posts here (remembered in a cookie); the JavaScript catalog is a
    # script file from our own origin, so the Content-Security-Policy needs no exception.
    # Without a CSRF token: the picker is on every page, and a token there would set a cookie
    # on every signed-out page, so none could be kept in memory (services/page_cache.py).
    # The worst a forged post does is change a visitor's language (docs/decisions.md).
    path("i18n/setlang/", csrf_exempt(set_language), name="set_language"),
    path("jsi18n/", JavaScriptCatalog.as_view(domain="djangojs"), name="javascript-catalog"),
    path("api/v1/", api.urls),
    # Our versions of some of django.contrib.auth's views, under the same names: rate-limited
    # per address, and checking passwords under the per-account delay (accounts.throttle).
    path("accounts/login/", accounts_views.LoginView.as_view(), name="login"),
    path(
        "accounts/password_reset/",
        accounts_views.PasswordResetView.as_view(),
        name="password_reset",
    ),
    path(
        "accounts/reset/<uidb64>/<token>/",
        accounts_views.PasswordResetConfirmView.as_view(),
        name="password_reset_confirm",
    ),
    path(
        "accounts/password_change/",
        accounts_views.PasswordChangeView.as_view(),
        name="password_change",
    ),
    path("accounts/", include("django.contrib.auth.urls")),
    path("", include("accounts.urls")),
    path("", include("gallery.urls")),
]

if importlib.util.find_spec("mozilla_django_oidc") is not None:
    # Single sign-on's start and callback (the `oidc` extra); they answer 404 while it is
    # off. Unnamespaced names: the library reverses them.
    from accounts import oidc

    urlpatterns.insert(
        0, path("oidc/start/", oidc.StartView.as_view(), name="oidc_authentication_init")
    )
    urlpatterns.insert(
        0, path("oidc/callback/", oidc.CallbackView.as_view(), name="oidc_authentication_callback")
    )
