"""Single sign-on through an OpenID Connect provider (the `oidc` extra): mozilla-django-oidc
runs the authorization-code flow (state, nonce, PKCE); this module maps what the provider
vouched for onto accounts (accounts.services.sso_sign_in decides which) and turns every way
the flow can fail into a page that says what happened."""

from __future__ import annotations

import logging
from typing import Any

import requests
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.backends import ModelBackend
from django.core.exceptions import SuspiciousOperation
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext as _
from mozilla_django_oidc.auth import OIDCAuthenticationBackend
from mozilla_django_oidc.views import (
    OIDCAuthenticationCallbackView,
    OIDCAuthenticationRequestView,
)

from accounts import limits, services
from core import http

logger = logging.getLogger(__name__)

# The invitation a sign-in was started from, kept in the session until the provider sends
# the person back.
INVITE_SESSION_KEY = "oidc_invite"


def claims_from(id_token: dict, userinfo: dict) -> services.SsoClaims:
    """The account-relevant claims. Issuer and subject come from the verified ID token; the
    userinfo answer must be about the same subject (OpenID Connect Core 5.3.2)."""
    subject = str(id_token.get("sub") or "")
    if not subject or str(userinfo.get("sub") or "") != subject:
        raise SuspiciousOperation("The userinfo answer is about another subject.")
    email = userinfo.get("email") or ""
    verified = userinfo.get("email_verified")
    return services.SsoClaims(
        issuer=str(id_token.get("iss") or ""),
        subject=subject,
        email=str(email) if isinstance(email, str) else "",
        # Some providers send "true" as a string.
        email_verified=verified is True or str(verified).lower() == "true",
        username=str(userinfo.get("preferred_username") or userinfo.get("nickname") or ""),
        name=str(userinfo.get("name") or ""),
    )


class Backend(OIDCAuthenticationBackend):
    """mozilla-django-oidc's backend, finding accounts by (issuer, subject) instead of email."""

    def verify_token(self, token: str, **kwargs) -> dict:
        payload = super().verify_token(token, **kwargs)
        # The library checks the signature, expiry and nonce; the token must also come from
        # our provider and be meant for us.
        if payload.get("iss") != settings.OIDC_OP_ISSUER:
            raise SuspiciousOperation("The ID token comes from another issuer.")
        audience = payload.get("aud")
        audiences = audience if isinstance(audience, list) else [audience]
        if settings.OIDC_RP_CLIENT_ID not in audiences:
            raise SuspiciousOperation("The ID token is meant for another client.")
        return payload

    def get_or_create_user(self, access_token: str, id_token: str, payload: dict):
        userinfo = self.get_userinfo(access_token, id_token, payload)
        claims = claims_from(payload, userinfo)
        # SignupClosed goes up to the callback view, which shows its reason.
        return services.sso_sign_in(claims, getattr(self.request, "oidc_invite", None))

    def get_user(self, user_id):
        # Django's own check, which refuses a deactivated account's existing sessions.
        return ModelBackend.get_user(self, user_id)


def _failed(request: HttpRequest, message: str, status: int) -> HttpResponse:
    return render(
        request,
        "accounts/oidc_failed.html",
        {"message": message, "provider_name": settings.OIDC_PROVIDER_NAME},
        status=status,
    )


class StartView(OIDCAuthenticationRequestView):
    """Sends the browser to the provider; `?invite=<token>` carries an invitation along."""

    def get(self, request: HttpRequest) -> HttpResponse:
        if not settings.OIDC_ENABLED:
            raise Http404("Single sign-on is off.")
        try:
            limits.check_ip("signin", http.client_ip(request))
        except limits.RateLimited as exc:
            return _failed(request, exc.message, 429)
        response = super().get(request)
        invite = request.GET.get("invite", "")[:64]
        if invite:
            request.session[INVITE_SESSION_KEY] = invite
        else:
            request.session.pop(INVITE_SESSION_KEY, None)
        return response


class CallbackView(OIDCAuthenticationCallbackView):
    """Where the provider sends the browser back."""

    user: Any = None

    def get(self, request: HttpRequest) -> HttpResponse:
        if not settings.OIDC_ENABLED:
            raise Http404("Single sign-on is off.")
        name = settings.OIDC_PROVIDER_NAME
        request.oidc_invite = request.session.pop(INVITE_SESSION_KEY, None)  # type: ignore[attr-defined]
        if request.GET.get("error"):
            super().get(request)  # forgets the state, so that it cannot be replayed
            return _failed(
                request,
                _("%(provider)s did not sign you in (it answered “%(error)s”). Try again.")
                % {"provider": name, "error": request.GET["error"][:100]},
                400,
            )
        state = request.GET.get("state")
        if not request.GET.get("code") or state not in request.session.get("oidc_states", {}):
            return _failed(
                request,
                _(
                    "This sign-in has expired, was already used, or was started in another "
                    "browser. Start again from the sign-in page."
                ),
                400,
            )
        try:
            return super().get(request)
        except services.SignupClosed as exc:
            return _failed(request, exc.message, 403)
        except requests.RequestException as exc:
            # The exception's text can hold the provider's answer: not logged.
            logger.warning("Single sign-on: the provider failed (%s)", type(exc).__name__)
            return _failed(
                request,
                _(
                    "%(provider)s could not be reached or refused to finish the sign-in. "
                    "Try again in a moment."
                )
                % {"provider": name},
                502,
            )
        except SuspiciousOperation as exc:
            logger.warning("Single sign-on refused: %s", exc)
            return _failed(
                request,
                _("The answer from %(provider)s could not be verified. Start again.")
                % {"provider": name},
                400,
            )

    def login_failure(self) -> HttpResponse:
        if self.user is not None and not self.user.is_active:
            return _failed(
                self.request,
                _("This account is disabled. Ask an administrator if you think it should not be."),
                403,
            )
        return _failed(
            self.request,
            _("%(provider)s did not sign you in. Start again from the sign-in page.")
            % {"provider": settings.OIDC_PROVIDER_NAME},
            400,
        )

    def login_success(self) -> HttpResponse:
        response = super().login_success()
        messages.success(
            self.request,
            _("Signed in as %(username)s.") % {"username": self.user.get_username()},
        )
        return response
