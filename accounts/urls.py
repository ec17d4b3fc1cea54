from django.urls import path

from accounts import views

app_name = "accounts"

urlpatterns = [
    path("setup/", views.setup, name="setup"),
    path("accounts/", views.account, name="account"),
    path("accounts/delete/", views.delete_account, name="delete"),
    path("accounts/tokens/", views.api_tokens, name="tokens"),
    path("accounts/tokens/<int:pk>/revoke/", views.revoke_token, name="revoke_token"),
    path("accounts/signup/", views.signup, name="signup"),
    path("accounts/signup/<str:token>/", views.signup, name="signup_invite"),
]
