"""Thin account views: first run, sign-in (rate-limited per address, delayed per account),
sign-up, the account page, API tokens."""

from typing import TYPE_CHECKING

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login, logout
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.contrib.auth.forms import SetPasswordForm
from django.core.exceptions import PermissionDenied, ValidationError
from django.forms import Form
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST
from django.views.generic import FormView

from accounts import limits, services, throttle, tokens
from accounts.forms import (
    DeleteAccountForm,
    PasswordChangeForm,
    SigninForm,
    SignupForm,
    TokenForm,
)
from accounts.models import ApiToken
from core import http
from core.models import SiteSettings

BACKEND = "django.contrib.auth.backends.ModelBackend"


if TYPE_CHECKING:
    # For the type checker only: the mixin goes on FormViews, whose methods it calls.
    _FormViewBase = FormView
else:
    _FormViewBase = object


class RateLimitedMixin(_FormViewBase):
    """Counts each POST from the client's address; over the limit, the page says when to
    try again (429) instead of processing the form."""

    limit_action = ""

    def post(self, request: HttpRequest, *args, **kwargs) -> HttpResponse:
        try:
            limits.check_ip(self.limit_action, http.client_ip(request))
        except limits.RateLimited as exc:
            form = self.get_form_class()(**self.get_limited_form_kwargs())
            context = self.get_context_data(form=form, limit_error=exc.message)
            return self.render_to_response(context, status=429)
        return super().post(request, *args, **kwargs)

    def get_limited_form_kwargs(self) -> dict:
        return {}


def _delayed_status(response: HttpResponse, form: Form) -> HttpResponse:
    """A form whose password check the per-account delay refused answers 429, saying in
    Retry-After when to try again (the page says it in words)."""
    delayed = getattr(form, "delayed", None)
    if delayed is not None:
        response.status_code = 429
        response["Retry-After"] = str(delayed.retry_after)
    return response


class DelayedMixin(_FormViewBase):
    """For FormViews whose form checks a password under the per-account delay."""

    def form_invalid(self, form: Form) -> HttpResponse:
        return _delayed_status(super().form_invalid(form), form)


class LoginView(RateLimitedMixin, DelayedMixin, auth_views.LoginView):
    limit_action = "signin"
    redirect_authenticated_user = True
    authentication_form = SigninForm

    def get_limited_form_kwargs(self) -> dict:
        return {"request": self.request, "initial": {"username": self.request.POST.get("username")}}

    def get_context_data(self, **kwargs) -> dict:
        mode = SiteSettings.load().signup_mode
        return super().get_context_data(**kwargs, signup_open=mode == "open", **_sso_context())


class PasswordResetView(RateLimitedMixin, auth_views.PasswordResetView):
    limit_action = "reset"


class PasswordResetConfirmView(auth_views.PasswordResetConfirmView):
    def form_valid(self, form: SetPasswordForm) -> HttpResponse:
        # The owner proved it through their email: they need not wait out a delay that
        # someone else's guesses started.
        throttle.succeeded(form.user.get_username())
        return super().form_valid(form)


class PasswordChangeView(DelayedMixin, auth_views.PasswordChangeView):
    form_class = PasswordChangeForm


def _sso_context() -> dict:
    """What the sign-in and sign-up pages need for their single sign-on button."""
    if not settings.OIDC_ENABLED:
        return {}
    return {"sso_name": settings.OIDC_PROVIDER_NAME}


@require_http_methods(["GET", "POST"])
def setup(request: HttpRequest) -> HttpResponse:
    """The one-time page that creates the administrator; gone once any account exists."""
    if not services.needs_setup():
        raise Http404("The site is set up.")
    form = SignupForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            user = services.create_first_admin(
                username=form.cleaned_data["username"],
                email=form.cleaned_data["email"],
                password=form.cleaned_data["password1"],
            )
        except PermissionDenied:
            raise Http404("The site is set up.") from None
        login(request, user, backend=BACKEND)
        messages.success(
            request,
            _(
                "Welcome! You are the administrator. Site settings, invitations and moderation "
                "are in the Admin."
            ),
        )
        return redirect("gallery:index")
    return render(request, "accounts/setup.html", {"form": form})


@require_http_methods(["GET", "POST"])
def signup(request: HttpRequest, token: str | None = None) -> HttpResponse:
    if request.user.is_authenticated:
        return redirect("gallery:index")
    try:
        invite = services.signup_allowed(token)
    except services.SignupClosed as exc:
        return render(request, "accounts/signup.html", {"closed": exc.message}, status=403)
    form = SignupForm(request.POST or None)
    context = {"form": form, "invite": invite, "invite_token": token, **_sso_context()}
    if request.method == "POST":
        try:
            limits.check_ip("signup", http.client_ip(request))
        except limits.RateLimited as exc:
            return render(
                request, "accounts/signup.html", {**context, "limit_error": exc.message}, status=429
            )
        if form.is_valid():
            try:
                user = services.sign_up(
                    username=form.cleaned_data["username"],
                    email=form.cleaned_data["email"],
                    password=form.cleaned_data["password1"],
                    token=token,
                )
            except services.SignupClosed as exc:
                return render(request, "accounts/signup.html", {"closed": exc.message}, status=403)
            login(request, user, backend=BACKEND)
            messages.success(
                request,
                _("Welcome, %(username)s! Your account is ready.")
                % {"username": user.get_username()},
            )
            return redirect("gallery:index")
    return render(request, "accounts/signup.html", context)


@login_required
def account(request: http.AuthenticatedRequest) -> HttpResponse:
    return render(request, "accounts/account.html", _account_context(request))


def _account_context(
    request: http.AuthenticatedRequest, delete_form: DeleteAccountForm | None = None
) -> dict:
    site = SiteSettings.load()
    return {
        "delete_form": delete_form or DeleteAccountForm(request.user),
        "keeps_public_images": site.account_deletion == site.AccountDeletion.ANONYMISE_IMAGES,
    }


@require_POST
@login_required
def delete_account(request: http.AuthenticatedRequest) -> HttpResponse:
    form = DeleteAccountForm(request.user, request.POST)
    if not form.is_valid():
        context = _account_context(request, delete_form=form)
        return _delayed_status(render(request, "accounts/account.html", context, status=400), form)
    user = request.user
    try:
        services.delete_account(user)
    except ValidationError as exc:
        messages.error(request, exc.messages[0])
        return redirect("accounts:account")
    logout(request)
    messages.success(request, _("Your account has been deleted."))
    return redirect("gallery:index")


@never_cache  # the page that shows a new token must never be kept by a browser or a proxy
@login_required
@require_http_methods(["GET", "POST"])
def api_tokens(request: http.AuthenticatedRequest) -> HttpResponse:
    """List, and create, the user's API tokens. A new token is rendered in the response to
    the POST that made it and nowhere else: not stored, not in the session, not in a URL."""
    form = TokenForm(request.POST or None)
    new_token = None
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                _token, new_token = tokens.issue(request.user, form.cleaned_data["name"])
            except ValidationError as exc:
                form.add_error(None, exc)
            else:
                form = TokenForm()
        if new_token is None:
            status = 400
    context = {
        "form": form,
        "new_token": new_token,
        "api_url": request.build_absolute_uri(reverse("gallery:api_text2image")),
        "api_base": request.build_absolute_uri("/v1"),
        "api_docs_url": reverse("api-v1:openapi-view"),
        "tokens": tokens.for_user(request.user),
        "revoked_listed_days": tokens.REVOKED_LISTED_FOR.days,
    }
    return render(request, "accounts/tokens.html", context, status=status)


@require_POST
@login_required
def revoke_token(request: http.AuthenticatedRequest, pk: int) -> HttpResponse:
    # Only the owner's own tokens exist here: anyone else's id is a 404, like a wrong one.
    token = get_object_or_404(ApiToken, pk=pk, user=request.user)
    if token.is_active:
        tokens.revoke(token)
        messages.success(
            request,
            _("Token “%(name)s” revoked. Anything using it is now refused.") % {"name": token.name},
        )
    return redirect(reverse("accounts:tokens"))
