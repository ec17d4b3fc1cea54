from django import forms
from django.conf import settings

from gallery.models import Report


class GenerateForm(forms.Form):
    """The prompt form. Its field names are the endpoint's own. The limits are enforced by
    the submit service; here they only become the browser's maxlength and counter."""

    prompt = forms.CharField(
        error_messages={"required": "Describe the image you want."},
        widget=forms.Textarea(
            attrs={"rows": 3, "placeholder": "A lighthouse on a cliff at dawn, watercolour"}
        ),
    )
    negative_prompt = forms.CharField(
        required=False,
        label="Negative prompt",
        widget=forms.Textarea(attrs={"rows": 2, "placeholder": "What to leave out: blurry, text"}),
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["prompt"].widget.attrs["maxlength"] = settings.GALLERY_PROMPT_MAX_LENGTH
        self.fields["negative_prompt"].widget.attrs["maxlength"] = (
            settings.GALLERY_NEGATIVE_PROMPT_MAX_LENGTH
        )


class ReportForm(forms.Form):
    """What a user tells the moderators about an image."""

    category = forms.ChoiceField(
        label="What is wrong with it?",
        choices=Report.Category.choices,
        widget=forms.RadioSelect,
        error_messages={"required": "Choose what is wrong with the image."},
    )
    note = forms.CharField(
        label="Anything a moderator should know?",
        required=False,
        max_length=500,
        widget=forms.Textarea(attrs={"rows": 2, "placeholder": "Optional"}),
    )
