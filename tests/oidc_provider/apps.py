from django.apps import AppConfig


class ProviderConfig(AppConfig):
    name = "tests.oidc_provider"
    label = "test_oidc_provider"
