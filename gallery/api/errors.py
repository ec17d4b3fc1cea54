"""The one mapping from what the services refuse or report to what the APIs answer.

Each API writes an ApiError in its own protocol's shape (the hosted API's {"error", "code"},
OpenAI's {"error": {...}}, the JSON API's {"detail", "code"}); which status and code a
refusal gets is decided here only.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

from accounts import tokens
from gallery.models import Generation
from gallery.services.quotas import SubmissionRefused

_TOKEN_CODES = {
    tokens.TokenMissing: "token_missing",
    tokens.TokenInvalid: "token_invalid",
    tokens.TokenRevoked: "token_revoked",
    tokens.AccountDisabled: "account_disabled",
}
# Failures that are this server's, not the endpoint's: 500. Other endpoint_* codes: 502.
_SERVER_FAILURES = ("storage_error", "worker_lost")


class ApiError(Exception):
    """A request an API answers with an error: HTTP `status`, a machine `code`, a
    `message` fit to show, the request field at fault (`param`), every field's messages
    (`fields`), seconds to wait (`retry_after`, for 429), and the generation concerned."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        param: str | None = None,
        fields: dict[str, list[str]] | None = None,
        retry_after: int | None = None,
        generation: Generation | None = None,
    ):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.param = param
        self.fields = fields or {}
        self.retry_after = retry_after
        self.generation = generation


def from_token_error(exc: tokens.TokenError) -> ApiError:
    """401 for a missing or invalid token, 403 for a revoked one or a disabled account."""
    return ApiError(exc.status, _TOKEN_CODES.get(type(exc), "token_invalid"), exc.message)


def from_refusal(exc: ValidationError) -> ApiError:
    """429 for a submission over a limit; 400 for bad input, `prompt_blocked` for a prompt
    the blocklist refused."""
    if isinstance(exc, SubmissionRefused):
        return ApiError(429, exc.code, exc.messages[0], retry_after=exc.retry_after)
    if not hasattr(exc, "error_dict"):
        return ApiError(400, getattr(exc, "code", None) or "invalid_request", exc.messages[0])
    field, errors = next(iter(exc.error_dict.items()))
    code = "prompt_blocked" if errors[0].code == "blocked" else "invalid_request"
    return ApiError(400, code, errors[0].messages[0], param=field, fields=exc.message_dict)


def from_unfinished(generation: Generation) -> ApiError:
    """Why a generation the caller waited for has no image: 504 for an endpoint timeout or
    an image still unfinished, 500 for a failure of this server (storage, a worker lost),
    502 for any other failure of the endpoint."""
    if not generation.is_finished:
        return ApiError(
            504,
            "generation_timeout",
            _("The image is taking longer than expected. It will appear in the gallery once done."),
            generation=generation,
        )
    code = generation.failure_code or "generation_failed"
    if code == "endpoint_timeout":
        status = 504
    elif code.startswith("endpoint_") and code not in _SERVER_FAILURES:
        status = 502
    else:
        status = 500
    message = generation.failure_reason or _("The image could not be made.")
    return ApiError(status, code, message, generation=generation)
