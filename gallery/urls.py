from django.urls import path

from gallery.api import compat
from gallery.views import (
    browse,
    collections,
    favourites,
    generations,
    history,
    media,
    moderation,
    operations,
    preferences,
    reports,
    shares,
    verify,
)

app_name = "gallery"

urlpatterns = [
    path("", browse.index, name="index"),
    path("generate", generations.generate, name="generate"),
    path("live", generations.live_round, name="live"),
    path("prompts/recent", generations.recent_prompts, name="recent_prompts"),
    path("g/<slug:public_id>/", generations.generation, name="generation"),
    path("g/<slug:public_id>/status", generations.generation_status, name="status"),
    path("g/<slug:public_id>/retry", generations.retry, name="retry"),
    path("g/<slug:public_id>/delete", generations.delete, name="delete"),
    path("g/<slug:public_id>/cancel", generations.cancel, name="cancel"),
    path("g/<slug:public_id>/visibility", generations.change_visibility, name="visibility"),
    path("g/<slug:public_id>/report", reports.report, name="report"),
    path("moderation/", moderation.queue, name="moderation"),
    path("operations/", operations.dashboard_page, name="operations"),
    path("metrics", operations.metrics_page, name="metrics"),
    path("moderation/<slug:public_id>/decide", moderation.decide, name="decide"),
    path("moderation/undo/<int:event_id>", moderation.undo, name="undo"),
    path("g/<slug:public_id>/appeal", moderation.appeal, name="appeal"),
    path("g/<slug:public_id>/again", generations.generate_again, name="again"),
    path("g/<slug:public_id>/star", favourites.star, name="star"),
    path("g/<slug:public_id>/menu", generations.tile_menu, name="tile_menu"),
    path("history", history.history_page, name="history"),
    path("history/bulk", history.bulk, name="history_bulk"),
    # Collections and share links (docs/decisions.md, "Collections and share links").
    path("collections/", collections.collection_list, name="collections"),
    path("c/<slug:public_id>/", collections.collection, name="collection"),
    path("c/<slug:public_id>/edit", collections.edit, name="collection_edit"),
    path("c/<slug:public_id>/delete", collections.delete, name="collection_delete"),
    path("c/<slug:public_id>/remove", collections.remove, name="collection_remove"),
    path("c/<slug:public_id>/cover", collections.set_cover, name="collection_cover"),
    path("c/<slug:public_id>/share", shares.share_collection, name="share_collection"),
    path("g/<slug:public_id>/collect", collections.collect, name="collect"),
    path("g/<slug:public_id>/share", shares.share_image, name="share_image"),
    path("shares/", shares.my_links, name="shares"),
    path("shares/<str:token>/revoke", shares.revoke, name="share_revoke"),
    path("s/<str:token>/", shares.share, name="share"),
    path("s/<str:token>/i/<slug:public_id>", shares.share_item, name="share_item"),
    path("s/<str:token>/f/<slug:public_id>/<str:filename>", shares.share_media, name="share_media"),
    path("account/preferences", preferences.preferences, name="preferences"),
    path("media/<slug:public_id>/<str:filename>", media.media, name="media"),
    path("verify", verify.verify, name="verify"),
    # Usually answered before Django by config/asgi.py; this is the same answer otherwise.
    path("media/<slug:public_id>/public/<str:filename>", media.public_media, name="public-media"),
    # Drop-in compatible APIs, at the paths their clients expect (see docs/API.md).
    path("api/text2image", compat.text2image, name="api_text2image"),
    path("v1/images/generations", compat.openai_images, name="openai_images"),
]
