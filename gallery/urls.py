from django.urls import path

from gallery import views

app_name = "gallery"

urlpatterns = [
    path("", views.index, name="index"),
    path("generate", views.generate, name="generate"),
    path("g/<slug:public_id>/", views.generation, name="generation"),
    path("g/<slug:public_id>/status", views.generation_status, name="status"),
    path("g/<slug:public_id>/retry", views.retry, name="retry"),
    path("g/<slug:public_id>/delete", views.delete, name="delete"),
    path("media/<slug:public_id>/<str:filename>", views.media, name="media"),
]
