from django.contrib import admin
from django.urls import include, path

from accounts import views as accounts_views
from gallery.views.health import healthz

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("admin/", admin.site.urls),
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
