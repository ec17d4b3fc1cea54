"""What the JSON API takes and returns (these classes are also its OpenAPI document)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from ninja import Schema
from pydantic import ConfigDict, Field, field_validator

from gallery.models import Generation
from gallery.services import intake, pagination

# The model's choices, as the enums of the OpenAPI document.
Status = Generation.Status
Visibility = Generation.Visibility
Moderation = Generation.Moderation


MAX_PAGE_SIZE = 100
DEFAULT_PAGE_SIZE = 24


class ListFilters(Schema):
    """The list's query parameters: the web gallery's search, filters and sort."""

    q: str = Field("", description='Search the prompts: words, "a phrase", -leave_out.')
    mine: bool = Field(False, description="Only your own images (needs a token).")
    starred: bool = Field(False, description="Only your favourites (needs a token).")
    status: Status | None = Field(
        None, description="queued, running or failed: your own only (needs a token)."
    )
    since: date | None = Field(None, description="Made on or after this day.")
    until: date | None = Field(None, description="Made on or before this day.")
    sort: Literal["newest", "oldest"] = "newest"
    cursor: str | None = Field(
        None, description="`next_cursor` of the previous page.", pattern=pagination.CURSOR_PATTERN
    )
    limit: int = Field(DEFAULT_PAGE_SIZE, ge=1, le=MAX_PAGE_SIZE)


class GenerationOut(Schema):
    id: str = Field(description="The generation's public id, as in its page's URL.")
    url: str = Field(description="This generation in the API: poll it for the status.")
    page_url: str = Field(description="The generation's page in the gallery.")
    status: Status
    status_note: str = Field(description="What is happening now (e.g. waiting to retry).")
    failure_reason: str = Field(description="Why it failed, in words; empty unless failed.")
    failure_code: str = Field(description="What kind of failure; empty unless failed.")
    prompt: str
    negative_prompt: str
    owner: str | None = Field(description="The owner's username; null if none or deleted.")
    visibility: Visibility
    moderation: Moderation | None = Field(description="Shown to the owner and staff only.")
    moderation_reason: str | None = Field(description="Shown to the owner and staff only.")
    created_at: datetime
    finished_at: datetime | None
    width: int | None
    height: int | None
    format: str = Field(description="The original's format (e.g. JPEG); empty until done.")
    original_url: str | None = Field(description="Null until there is an image.")
    thumbnail_url: str | None
    thumbnail_2x_url: str | None
    preview_url: str | None


class GenerationPage(Schema):
    items: list[GenerationOut]
    next_cursor: str | None = Field(
        description="Pass as `cursor` (with the same filters) for the next page; null at the end."
    )
    next_url: str | None = Field(description="The next page's URL, filters and all.")


class GenerationIn(Schema):
    # The document promises what the intake service accepts (its lengths and patterns).
    # Python's regex engine, so that "space" means what str.strip() strips.
    model_config = ConfigDict(regex_engine="python-re")

    prompt: str = Field(
        description="What to draw.",
        min_length=1,
        max_length=intake.max_lengths()["prompt"],
        pattern=intake.PROMPT_PATTERN,
    )
    negative_prompt: str = Field(
        "",
        description="What to leave out.",
        max_length=intake.max_lengths()["negative_prompt"],
        pattern=intake.NEGATIVE_PROMPT_PATTERN,
    )
    visibility: Visibility | None = Field(
        None, description="Defaults to the account's preference, else the site's."
    )

    @field_validator("prompt", "negative_prompt")
    @classmethod
    def storable(cls, value: str) -> str:
        # JSON can spell lone surrogates ("\ud800"); no database can store them.
        if not intake.is_storable(value):
            raise ValueError(str(intake.UNSTORABLE_TEXT))
        return value


class Error(Schema):
    detail: str
    code: str | None = Field(None, description="A stable code for some errors.")
    errors: list[dict[str, Any]] | None = Field(None, description="Which fields were wrong.")
