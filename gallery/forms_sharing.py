"""Forms of collections and share links. They only read input; the rules are the services'."""

from django import forms
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext_lazy

from core.models import Visibility
from gallery.models import Collection
from gallery.services import sharing


class CollectionForm(forms.ModelForm):
    class Meta:
        model = Collection
        fields = ["name", "description", "visibility"]
        widgets = {
            "description": forms.Textarea(attrs={"rows": 2, "placeholder": _("Optional")}),
            "visibility": forms.RadioSelect,
        }
        labels = {
            "name": _("Name"),
            "description": _("Description"),
            "visibility": _("Who can open it"),
        }
        help_texts = {
            "visibility": _("Public collections show each visitor only the images they may see.")
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["visibility"].choices = [
            (Visibility.PRIVATE, _("Only me")),
            (Visibility.PUBLIC, _("Anyone who can browse the gallery")),
        ]


_DAYS = ngettext_lazy("%(count)s day", "%(count)s days", "count")
EXPIRY_LABELS = {
    None: _("Never (until I revoke it)"),
    1: _DAYS % {"count": 1},
    7: _DAYS % {"count": 7},
    30: _DAYS % {"count": 30},
}


class ShareForm(forms.Form):
    expires = forms.TypedChoiceField(
        label=_("Link expires after"),
        choices=[("" if d is None else str(d), EXPIRY_LABELS[d]) for d in sharing.EXPIRY_CHOICES],
        coerce=int,
        empty_value=None,
        required=False,
    )
    password = forms.CharField(
        label=_("Password"),
        required=False,
        max_length=sharing.PASSWORD_MAX,
        strip=False,
        help_text=_("Optional. Whoever opens the link must type it."),
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )
    hide_prompts = forms.BooleanField(
        label=_("Hide prompts"),
        required=False,
        help_text=_(
            "Show the pictures only: no prompts, and no original download (its file "
            "carries the prompt)."
        ),
    )


class SharePasswordForm(forms.Form):
    password = forms.CharField(
        label=_("Password"),
        max_length=sharing.PASSWORD_MAX,
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password", "autofocus": True}),
    )
