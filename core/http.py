"""Request helpers both apps' views use: who is asking, and from where. Reading a request
is the views' business; the services are handed the plain values these return."""

from __future__ import annotations

import ipaddress

from django.conf import settings
from django.contrib.auth.models import User
from django.http import HttpRequest


class AuthenticatedRequest(HttpRequest):
    """The request of a view behind login_required (for type checking: `user` is a User)."""

    user: User


def client_ip(request: HttpRequest) -> str:
    """The client's address: REMOTE_ADDR, or behind a proxy the configured header only
    (GALLERY_TRUSTED_PROXY_HEADER), whose last entry is the one our own proxy added.
    IPv6 clients are grouped by /64, the block one household or host usually gets."""
    address = request.META.get("REMOTE_ADDR", "")
    header = settings.GALLERY_TRUSTED_PROXY_HEADER
    if header:
        value = request.META.get("HTTP_" + header.upper().replace("-", "_"), "")
        entries = [part.strip() for part in value.split(",") if part.strip()]
        if entries:
            address = entries[-1]
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address[:64] or "unknown"
    if ip.version == 6:
        if ip.ipv4_mapped:
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


def bearer(request: HttpRequest) -> str:
    """The token in the request's `Authorization: Bearer …` header, or ''."""
    return bearer_in(request.headers.get("Authorization", ""))


def bearer_in(header: str) -> str:
    """The token in an `Authorization` header's value, or '' if it is not a Bearer one."""
    scheme, _, value = header.strip().partition(" ")
    if scheme.lower() != "bearer":
        return ""
    return value.strip()
