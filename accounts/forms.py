from django import forms
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth import forms as auth_forms
from django.contrib.auth import get_user_model
from django.contrib.auth.forms import UserCreationForm
from django.contrib.auth.models import AbstractBaseUser
from django.utils.translation import gettext_lazy as _
from django.views.decorators.debug import sensitive_variables

from accounts import limits, throttle
from core import http

User = get_user_model()

PASSWORD_HELP = _("At least 8 characters; not only digits, not a common password.")


class SignupForm(UserCreationForm):
    """Username, email (for password resets) and a password, typed twice."""

    email = forms.EmailField(
        label=_("Email"),
        help_text=_("Only used to reset your password."),
        widget=forms.EmailInput(attrs={"autocomplete": "email"}),
    )

    class Meta(UserCreationForm.Meta):
        model = User
        fields = ("username", "email")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["username"].help_text = _("Letters, digits and @ . + - _ only.")
        self.fields["password1"].help_text = PASSWORD_HELP
        self.fields["password2"].label = _("Password again")
        self.fields["password2"].help_text = ""

    def clean_email(self) -> str:
        email = self.cleaned_data["email"].strip()
        if User.objects.filter(email__iexact=email).exists():
            raise forms.ValidationError(
                _("An account with this email exists already. Sign in, or reset its password.")
            )
        return email


class DelayedForm(forms.Form):
    """A form that checks a password under the per-account sign-in delay. `delayed` is set
    when the check was refused, so that the view can answer 429 with Retry-After."""

    delayed: throttle.SigninDelayed | None = None

    @sensitive_variables("password")
    def _right_password(self, user: AbstractBaseUser, password: str) -> bool:
        try:
            return throttle.check_password(user, password)
        except throttle.SigninDelayed as exc:
            self.delayed = exc
            raise forms.ValidationError(exc.message, code="delayed") from None


class SigninForm(auth_forms.AuthenticationForm, DelayedForm):
    """Django's sign-in form, its password check under the per-account delay."""

    @sensitive_variables()  # as Django's own: error reports never show the password
    def clean(self) -> dict:
        username = self.cleaned_data.get("username")
        password = self.cleaned_data.get("password")
        if username is None or not password:
            return super().clean()  # no password is checked
        try:
            throttle.count_attempt(username)
        except throttle.SigninDelayed as exc:
            self.delayed = exc
            raise forms.ValidationError(exc.message, code="delayed") from None
        try:
            return super().clean()
        finally:
            # The password was right (even if this account may not sign in here): no guess.
            if self.user_cache is not None:
                throttle.succeeded(username)


class AdminSigninForm(SigninForm, AdminAuthenticationForm):
    """The admin's sign-in form, under the same delay and the same per-address limit as the
    sign-in page (whose view counts the address; the admin's view is Django's own)."""

    def clean(self) -> dict:
        if self.request is not None:
            try:
                limits.check_ip("signin", http.client_ip(self.request))
            except limits.RateLimited as exc:
                raise forms.ValidationError(exc.message, code="rate_limited") from None
        return super().clean()


class PasswordChangeForm(auth_forms.PasswordChangeForm, DelayedForm):
    """Django's form, its check of the current password under the per-account delay."""

    @sensitive_variables("old_password")
    def clean_old_password(self) -> str:
        old_password = self.cleaned_data["old_password"]
        if not self._right_password(self.user, old_password):
            raise forms.ValidationError(
                self.error_messages["password_incorrect"], code="password_incorrect"
            )
        return old_password


class DeleteAccountForm(DelayedForm):
    password = forms.CharField(
        label=_("Your password"),
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )

    def __init__(self, user, *args, **kwargs):
        self.user = user
        super().__init__(*args, **kwargs)

    @sensitive_variables("password")
    def clean_password(self) -> str:
        password = self.cleaned_data["password"]
        if not self._right_password(self.user, password):
            raise forms.ValidationError(_("That is not your password."))
        return password


class TokenForm(forms.Form):
    name = forms.CharField(
        label=_("Name"),
        max_length=100,
        help_text=_("What will use it, e.g. “laptop script” or “chat app”."),
        widget=forms.TextInput(attrs={"autocomplete": "off"}),
    )
