"""The provider's people, its signing key and the gallery's client registration."""

import os

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from django.contrib.auth.models import User
from django.core.management.base import BaseCommand
from oidc_provider.models import Client, ResponseType, RSAKey

from tests.oidc_provider import CLIENT_ID, CLIENT_SECRET, PEOPLE


class Command(BaseCommand):
    def handle(self, *args, **options):
        for username, (password, email) in PEOPLE.items():
            if not User.objects.filter(username=username).exists():
                User.objects.create_user(username, email=email, password=password)
        if not RSAKey.objects.exists():
            key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            pem = key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.TraditionalOpenSSL,
                serialization.NoEncryption(),
            )
            RSAKey.objects.create(key=pem.decode())
        client, _ = Client.objects.update_or_create(
            client_id=CLIENT_ID,
            defaults={
                "name": "Gallery",
                "client_type": "confidential",
                "client_secret": CLIENT_SECRET,
                "jwt_alg": "RS256",
                "require_consent": False,
                "reuse_consent": True,
            },
        )
        client.redirect_uris = [os.environ["PROVIDER_REDIRECT_URI"]]
        client.scope = ["openid", "email", "profile"]
        client.save()
        client.response_types.set([ResponseType.objects.get(value="code")])
