"""The JSON API against its own OpenAPI document, as served by the running app: schemathesis
generates requests from the document and checks every answer conforms to it (status codes,
content types, bodies and headers), and that nothing is a server error.

A real server (pytest-django's live_server) and real HTTP: the document is fetched from
/api/v1/openapi.json like any client would. Examples are few and derandomized, so the test
is quick and runs the same cases every time."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from accounts import tokens
from gallery.models import Generation
from tests.factories import make_done, make_failed

pytestmark = [pytest.mark.web, pytest.mark.django_db(transaction=True)]

EXAMPLES = settings(
    max_examples=25,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)


@pytest.fixture(autouse=True)
def _every_limit_off(no_limits):
    """Every limit off: the generated requests come fast and many."""


@pytest.fixture
def gallery(owner, other_user):
    """Something to list: public images, one's own private and failed ones, someone else's."""
    items = [make_done(f"lighthouse {n}", owner=owner) for n in range(5)]
    items.append(make_done("ada's private harbour", owner=owner, visibility="private"))
    items.append(make_done("bob's private", owner=other_user, visibility="private"))
    items.append(make_done("an orphan, its owner deleted"))
    make_failed("ada's failure", "Timed out.", owner=owner)
    return items


@pytest.fixture
def schema(live_server):
    return schemathesis.openapi.from_url(f"{live_server.url}/api/v1/openapi.json")


@pytest.fixture
def bearer(owner) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens.issue(owner, 'schemathesis')[1]}"}


def test_listing_conforms_for_anonymous_and_token_callers(schema, gallery, bearer):
    operation = schema["/api/v1/generations"]["GET"]

    @EXAMPLES
    @given(case=operation.as_strategy(), signed_in=st.booleans())
    def check(case, signed_in):
        case.call_and_validate(headers=bearer if signed_in else None)

    check()


def test_reading_one_conforms_whether_found_or_not(schema, gallery, bearer):
    operation = schema["/api/v1/generations/{public_id}"]["GET"]
    ids = [item.public_id for item in gallery]

    @EXAMPLES
    @given(
        case=operation.as_strategy(),
        known=st.sampled_from([*ids, None]),
        signed_in=st.booleans(),
    )
    def check(case, known, signed_in):
        if known:
            case.path_parameters = {"public_id": known}
        case.call_and_validate(headers=bearer if signed_in else None)

    check()


def test_creating_conforms(schema, owner, bearer):
    operation = schema["/api/v1/generations"]["POST"]

    @EXAMPLES
    @given(case=operation.as_strategy())
    def check(case):
        case.call_and_validate(headers=bearer)

    check()
    assert Generation.objects.filter(owner=owner).exists()  # some were accepted (202)


def test_deleting_conforms(schema, owner, bearer):
    operation = schema["/api/v1/generations/{public_id}"]["DELETE"]

    @EXAMPLES
    @given(case=operation.as_strategy(), existing=st.booleans())
    def check(case, existing):
        if existing:
            case.path_parameters = {"public_id": make_done("to delete", owner=owner).public_id}
        case.call_and_validate(headers=bearer)

    check()
    assert not Generation.objects.filter(prompt="to delete").exists()
