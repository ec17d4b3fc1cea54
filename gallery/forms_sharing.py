"""Forms of collections and share links. They only read input; the rules are the services'."""

from django import forms

from core.models import Visibility
from gallery.models import Collection
from gallery.services import sharing


class CollectionForm(forms.ModelForm):
    class Meta:
        model = Collection
        fields = ["name", "description", "visibility"]
        widgets = {
            "description": forms.Textarea(attrs={"rows": 2, "placeholder": "Optional"}),
            "visibility": forms.RadioSelect,
        }
        labels = {"visibility": "Who can open it"}
        help_texts = {
            "visibility": "Public collections show each visitor only the images they may see."
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["visibility"].choices = [
            (Visibility.PRIVATE, "Only me"),
            (Visibility.PUBLIC, "Anyone who can browse the gallery"),
        ]


EXPIRY_LABELS = {None: "Never (until I revoke it)", 1: "1 day", 7: "7 days", 30: "30 days"}


class ShareForm(forms.Form):
    expires = forms.TypedChoiceField(
        label="Link expires after",
        choices=[("" if d is None else str(d), EXPIRY_LABELS[d]) for d in sharing.EXPIRY_CHOICES],
        coerce=int,
        empty_value=None,
        required=False,
    )
    password = forms.CharField(
        label="Password",
        required=False,
        max_length=sharing.PASSWORD_MAX,
        strip=False,
        help_text="Optional. Whoever opens the link must type it.",
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )
    hide_prompts = forms.BooleanField(
        label="Hide prompts",
        required=False,
        help_text="Show the pictures only: no prompts, and no original download (its file "
        "carries the prompt).",
    )


class SharePasswordForm(forms.Form):
    password = forms.CharField(
        label="Password",
        max_length=sharing.PASSWORD_MAX,
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password", "autofocus": True}),
    )
