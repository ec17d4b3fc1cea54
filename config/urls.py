from django.contrib import admin
from django.http import HttpRequest, HttpResponsePermanentRedirect
from django.templatetags.static import static
from django.urls import include, path

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
    path("api/v1/", api.urls),
    # Rate-limited versions of two of django.contrib.auth's views, under the same names.
    path("accounts/login/", accounts_views.LoginView.as_view(), name="login"),
    path(
        "accounts/password_reset/",
        accounts_views.PasswordResetView.as_view(),
        name="password_reset",
    ),
    path("accounts/", include("django.contrib.auth.urls")),
    path("", include("accounts.urls")),
    path("", include("gallery.urls")),
]
