"""The signed-in user's own choices: default visibility, prompt in downloads."""

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from core.models import SiteSettings
from gallery.models import Generation, Preferences


class PreferencesForm(forms.ModelForm):
    class Meta:
        model = Preferences
        fields = ["default_visibility", "embed_metadata"]
        labels = {
            "default_visibility": _("New images are"),
            "embed_metadata": _("Embed the prompt in downloaded files"),
        }
        help_texts = {
            "embed_metadata": _(
                "Downloads of your images, by anyone, carry the prompt, negative "
                "prompt and a link back here as standard PNG/JPEG/WebP metadata. The stored "
                "file never changes."
            ),
        }
        widgets = {"default_visibility": forms.RadioSelect}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        site_default = SiteSettings.load().get_default_visibility_display().lower()
        self.fields["default_visibility"].choices = [
            ("", gettext("The site's default (%(visibility)s)") % {"visibility": site_default}),
            *Generation.Visibility.choices,
        ]
        self.fields["default_visibility"].required = False


@login_required
def preferences(request: HttpRequest) -> HttpResponse:
    prefs = Preferences.for_user(request.user)
    form = PreferencesForm(request.POST or None, instance=prefs)
    if request.method == "POST":
        if form.is_valid():
            form.save()
            messages.success(request, gettext("Preferences saved."))
            return redirect("gallery:preferences")
        return render(request, "gallery/preferences.html", {"form": form}, status=400)
    return render(request, "gallery/preferences.html", {"form": form})
