from django.urls import path

from gallery.views import browse, generations, media, moderation, reports

app_name = "gallery"

urlpatterns = [
    path("", browse.index, name="index"),
    path("generate", generations.generate, name="generate"),
    path("g/<slug:public_id>/", generations.generation, name="generation"),
    path("g/<slug:public_id>/status", generations.generation_status, name="status"),
    path("g/<slug:public_id>/retry", generations.retry, name="retry"),
    path("g/<slug:public_id>/delete", generations.delete, name="delete"),
    path("g/<slug:public_id>/report", reports.report, name="report"),
    path("moderation/", moderation.queue, name="moderation"),
    path("moderation/<slug:public_id>/decide", moderation.decide, name="decide"),
    path("media/<slug:public_id>/<str:filename>", media.media, name="media"),
]
