from django import forms
from django.utils.translation import gettext_lazy as _

from gallery.models import Generation, Report, StylePreset
from gallery.services import intake, presets


class StyleSelect(forms.Select):
    """The Style select; each option with an example image carries its thumbnail URLs, which
    composer.js shows beside the select (without the script the select works as it is)."""

    examples: dict[int, Generation] = {}

    def create_option(self, name, value, label, selected, index, subindex=None, attrs=None):
        option = super().create_option(name, value, label, selected, index, subindex, attrs)
        example = self.examples.get(getattr(value, "value", value))
        if example is not None:
            option["attrs"]["data-example"] = example.thumbnail_url
            option["attrs"]["data-example-2x"] = example.thumbnail_2x_url
        return option


class GenerateForm(forms.Form):
    """The prompt form. Its field names are the endpoint's own. What a valid prompt is, is
    the intake service's: its limits become the browser's maxlength and counter here."""

    prompt = forms.CharField(
        error_messages={"required": intake.EMPTY_PROMPT},
        widget=forms.Textarea(
            attrs={"rows": 2, "placeholder": _("A lighthouse on a cliff at dawn, watercolour")}
        ),
    )
    negative_prompt = forms.CharField(
        required=False,
        label=_("Negative prompt"),
        widget=forms.Textarea(
            attrs={"rows": 2, "placeholder": _("What to leave out: blurry, text")}
        ),
    )

    # How many images of this prompt (1 to the site's GALLERY_MAX_BATCH).
    count = forms.TypedChoiceField(
        label=_("Images"), coerce=int, empty_value=1, required=False, initial=1
    )
    # A style preset staff offer (gallery.services.presets); blank: none.
    preset = forms.TypedChoiceField(
        label=_("Style"), required=False, coerce=int, empty_value=None, widget=StyleSelect
    )
    # Blank: the user's default (Preferences), else the site's.
    visibility = forms.ChoiceField(
        label=_("Who can see them"),
        required=False,
        choices=[("", _("My default")), *Generation.Visibility.choices],
    )

    # "Generate again": the public id of the image the prompt came from (checked on submit).
    source = forms.CharField(required=False, max_length=16, widget=forms.HiddenInput)

    def __init__(self, *args, user=None, **kwargs):
        super().__init__(*args, **kwargs)
        for name, limit in intake.max_lengths().items():
            self.fields[name].widget.attrs["maxlength"] = limit
        self.fields["count"].choices = [(n, str(n)) for n in range(1, intake.max_batch() + 1)]
        # One query for the offered presets, whether the form is shown or checked.
        self.presets = {preset.pk: preset for preset in presets.offered()}
        self.fields["preset"].choices = [("", _("No style"))] + [
            (pk, preset.name) for pk, preset in self.presets.items()
        ]
        # Example images only for a page shown to someone (`user`), as they may see them.
        self.examples = presets.examples(user, list(self.presets.values())) if user else {}
        self.fields["preset"].widget.examples = self.examples

    def chosen_example(self) -> tuple[StylePreset, Generation] | None:
        """The preset chosen now, with its example image, if it has one to show (the page
        shows it before any script runs)."""
        try:
            chosen = int(self["preset"].value() or 0)
        except (TypeError, ValueError):
            return None
        if chosen in self.examples:
            return self.presets[chosen], self.examples[chosen]
        return None

    def clean_preset(self) -> StylePreset | None:
        chosen = self.cleaned_data.get("preset")
        return self.presets.get(chosen) if chosen else None


class ReportForm(forms.Form):
    """What a user tells the moderators about an image."""

    category = forms.ChoiceField(
        label=_("What is wrong with it?"),
        choices=Report.Category.choices,
        widget=forms.RadioSelect,
        error_messages={"required": _("Choose what is wrong with the image.")},
    )
    note = forms.CharField(
        label=_("Anything a moderator should know?"),
        required=False,
        max_length=500,
        widget=forms.Textarea(attrs={"rows": 2, "placeholder": _("Optional")}),
    )


class GalleryFilterForm(forms.Form):
    """The filter bar above the grid. It only renders the controls: the URL is parsed (and
    anything invalid dropped) by `browse.GalleryQuery.from_params`."""

    q = forms.CharField(
        required=False,
        label=_("Search prompts"),
        widget=forms.TextInput(
            attrs={
                "type": "search",
                "placeholder": _('Search prompts: lighthouse "oil painting" -people'),
                "autocomplete": "off",
                "enterkeyhint": "search",
            }
        ),
    )
    mine = forms.BooleanField(required=False, label=_("Mine"))
    starred = forms.BooleanField(required=False, label=_("Starred"))
    status = forms.ChoiceField(
        required=False,
        label=_("Status"),
        choices=[("", _("Any finished")), *Generation.Status.choices],
    )
    since = forms.DateField(
        required=False, label=_("From"), widget=forms.DateInput(attrs={"type": "date"})
    )
    until = forms.DateField(
        required=False, label=_("To"), widget=forms.DateInput(attrs={"type": "date"})
    )
    sort = forms.ChoiceField(
        required=False,
        label=_("Sort"),
        choices=[("newest", _("Newest")), ("oldest", _("Oldest"))],
        widget=forms.RadioSelect,
    )

    def __init__(self, *args, signed_in: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        if not signed_in:
            # "Mine", "Starred" and one's own statuses mean nothing to a visitor.
            for name in ("mine", "starred", "status"):
                del self.fields[name]

    @classmethod
    def for_query(cls, query, signed_in: bool) -> "GalleryFilterForm":
        """The form showing `query` (a `browse.GalleryQuery`), normalised."""
        initial = {**query.to_params(), "sort": query.sort}
        return cls(initial=initial, signed_in=signed_in)
