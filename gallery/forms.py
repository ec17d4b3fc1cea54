from django import forms
from django.conf import settings


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

    # "Generate again": the public id of the image the prompt came from (checked on submit).
    source = forms.CharField(required=False, max_length=16, widget=forms.HiddenInput)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["prompt"].widget.attrs["maxlength"] = settings.GALLERY_PROMPT_MAX_LENGTH
        self.fields["negative_prompt"].widget.attrs["maxlength"] = (
            settings.GALLERY_NEGATIVE_PROMPT_MAX_LENGTH
        )
