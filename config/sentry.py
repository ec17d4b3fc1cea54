"""Error reporting through Sentry, only when SENTRY_DSN is set (the optional `sentry` extra).

Nothing secret leaves: no cookies or Authorization headers, no user's personal data, the
endpoint's token removed wherever it shows up, and prompts only when the operator says so
(GALLERY_SENTRY_SEND_PROMPTS): they are the users' words, not the operator's."""

from __future__ import annotations

import os
from typing import Any

from django.core.exceptions import ImproperlyConfigured

FILTERED = "[filtered]"
SECRET_HEADERS = {"authorization", "cookie", "x-csrftoken", "proxy-authorization"}
PROMPT_KEYS = {"prompt", "negative_prompt", "typed_prompt", "typed_negative_prompt"}


def scrub(event: dict[str, Any], *, send_prompts: bool, secrets: list[str]) -> dict[str, Any]:
    """The event without secrets (and without prompts unless `send_prompts`)."""
    request = event.get("request") or {}
    headers = request.get("headers")
    if isinstance(headers, dict):
        request["headers"] = {
            k: FILTERED if k.lower() in SECRET_HEADERS else v for k, v in headers.items()
        }
    request.pop("cookies", None)
    return _walk(event, send_prompts=send_prompts, secrets=[s for s in secrets if s])


def _walk(value: Any, *, send_prompts: bool, secrets: list[str]) -> Any:
    if isinstance(value, dict):
        return {
            key: FILTERED
            if not send_prompts and isinstance(key, str) and key in PROMPT_KEYS
            else _walk(item, send_prompts=send_prompts, secrets=secrets)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [_walk(item, send_prompts=send_prompts, secrets=secrets) for item in value]
    if isinstance(value, str):
        for secret in secrets:
            value = value.replace(secret, FILTERED)
    return value


def init(dsn: str, *, send_prompts: bool, traces_rate: float) -> None:
    try:
        import sentry_sdk
    except ImportError:
        raise ImproperlyConfigured(
            "SENTRY_DSN is set but sentry-sdk is not installed: pip install '.[sentry]'."
        ) from None
    secrets = [os.environ.get("OVH_AI_ENDPOINTS_ACCESS_TOKEN", "")]

    def before_send(event: dict[str, Any], hint: dict[str, Any]) -> dict[str, Any]:
        return scrub(event, send_prompts=send_prompts, secrets=secrets)

    sentry_sdk.init(
        dsn=dsn,
        send_default_pii=False,
        traces_sample_rate=traces_rate,
        before_send=before_send,
        before_send_transaction=before_send,
    )
