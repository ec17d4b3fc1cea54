"""A real OpenID Connect provider for the single sign-on tests: a small Django project
running django-oidc-provider, started as a second process on 127.0.0.1 (`Provider`)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent.parent

# People who have an account at the provider: username -> (password, email).
PEOPLE = {
    "alice": ("alice-password-1", "alice@example.org"),
    "stranger": ("stranger-password-1", "stranger@example.org"),
}
CLIENT_ID = "gallery"
CLIENT_SECRET = "gallery-client-secret-for-tests"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Provider:
    """The provider process, with its own SQLite database in `workdir`. `redirect_uri` is
    the gallery's callback the client is registered with."""

    def __init__(self, workdir: Path, redirect_uri: str):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.issuer = f"{self.url}/openid"
        self.env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "tests.oidc_provider.settings",
            "PROVIDER_DB": str(workdir / "provider.sqlite3"),
            "PROVIDER_SITE_URL": self.url,
            "PROVIDER_REDIRECT_URI": redirect_uri,
            "PYTHONPATH": str(ROOT),
        }
        self.log = workdir / "provider.log"
        self.process: subprocess.Popen | None = None

    def settings(self) -> dict:
        """The gallery's OIDC_* settings for this provider."""
        return {
            "OIDC_ENABLED": True,
            "OIDC_PROVIDER_NAME": "Test Provider",
            "OIDC_OP_ISSUER": self.issuer,
            "OIDC_RP_CLIENT_ID": CLIENT_ID,
            "OIDC_RP_CLIENT_SECRET": CLIENT_SECRET,
            "OIDC_RP_SIGN_ALGO": "RS256",
            "OIDC_OP_AUTHORIZATION_ENDPOINT": f"{self.issuer}/authorize",
            "OIDC_OP_TOKEN_ENDPOINT": f"{self.issuer}/token",
            "OIDC_OP_USER_ENDPOINT": f"{self.issuer}/userinfo",
            "OIDC_OP_JWKS_ENDPOINT": f"{self.issuer}/jwks",
        }

    def start(self) -> Provider:
        python = [sys.executable, "-m", "django"]
        for step in (["migrate", "-v0"], ["seed_provider"]):
            subprocess.run([*python, *step], env=self.env, cwd=ROOT, check=True, timeout=120)
        self.process = subprocess.Popen(
            [*python, "runserver", "--noreload", "--nothreading", f"127.0.0.1:{self.port}"],
            env=self.env,
            cwd=ROOT,
            stdout=self.log.open("ab"),
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if requests.get(f"{self.issuer}/.well-known/openid-configuration", timeout=2).ok:
                    return self
            except requests.ConnectionError:
                pass
            if self.process.poll() is not None:
                raise RuntimeError("The test OIDC provider exited on start.")
            time.sleep(0.2)
        self.stop()
        raise RuntimeError("The test OIDC provider did not answer within 30 s.")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)


def use_provider(settings, provider: Provider) -> None:
    """Point the gallery's settings at `provider`, single sign-on on."""
    for name, value in provider.settings().items():
        setattr(settings, name, value)
    settings.AUTHENTICATION_BACKENDS = [
        "django.contrib.auth.backends.ModelBackend",
        "accounts.oidc.Backend",
    ]
