"""The endpoint client speaking the OpenAI images protocol (SDXL_ENDPOINT_PROTOCOL=openai),
against the stand-in's /v1/images/generations over real HTTP on 127.0.0.1."""

import pytest

from gallery.models import Generation
from gallery.services import endpoint, intake, worker
from gallery.standin.draw import render
from gallery.standin.server import OPENAI_PATH

pytestmark = pytest.mark.unit

TOKEN = "s3cret-token"


@pytest.fixture
def openai_client(client_for, standin):
    """A real client speaking the OpenAI protocol to the stand-in."""

    def build(**overrides) -> endpoint.SDXLClient:
        return client_for(url=standin.openai_url, protocol="openai", **overrides)

    return build


def test_success_returns_the_decoded_image_verified_and_sends_the_openai_body(
    openai_client, standin
):
    image = openai_client(token=TOKEN, model="sdxl-test").text2image("a red fox", "blurry")

    assert image.data == render("a red fox", "blurry")  # byte-exact after base64
    assert (image.format, image.width, image.height) == ("JPEG", 1024, 1024)
    request = standin.received[-1]
    assert request["path"] == OPENAI_PATH
    assert request["body"] == {
        "model": "sdxl-test",
        "prompt": "a red fox",
        "n": 1,
        "size": "1024x1024",
        "response_format": "b64_json",
        "negative_prompt": "blurry",
    }
    headers = {k.lower(): v for k, v in request["headers"].items()}
    assert headers["accept"] == "application/json"
    assert headers["content-type"] == "application/json"
    assert headers["authorization"] == f"Bearer {TOKEN}"


def test_no_negative_prompt_and_no_token_send_neither(openai_client, standin):
    openai_client().text2image("a red fox")

    request = standin.received[-1]
    assert "negative_prompt" not in request["body"]
    assert request["body"]["model"] == endpoint.DEFAULT_OPENAI_MODEL
    assert "authorization" not in {k.lower() for k in request["headers"]}


@pytest.mark.parametrize(
    ("fault", "error", "reason"),
    [
        ("401", endpoint.AuthRejected, "rejected the access token"),
        ("403", endpoint.AuthRejected, "refused the access token"),
        ("404", endpoint.EndpointGone, "'stable-diffusion-xl-base-v10' does not exist"),
        ("429", endpoint.RateLimited, "rate limit"),
        ("500", endpoint.ServerError, "HTTP 500"),
        ("502", endpoint.ServerError, "HTTP 502"),
        ("503", endpoint.ServerError, "HTTP 503"),
        ("400", endpoint.RequestRejected, "HTTP 400"),
        ("timeout", endpoint.EndpointTimeout, "did not answer in time"),
        ("reset", endpoint.EndpointUnreachable, "reach the endpoint"),
        ("html", endpoint.InvalidImage, "not JSON"),
        ("malformed-json", endpoint.InvalidImage, "not JSON"),
        ("no-b64", endpoint.InvalidImage, r"no data\[0\]\.b64_json"),
        ("bad-base64", endpoint.InvalidImage, "not valid base64"),
        ("garbage", endpoint.InvalidImage, "not an image"),
        ("truncated", endpoint.InvalidImage, "damaged or incomplete"),
        ("oversized", endpoint.InvalidImage, "larger than this gallery accepts"),
        ("bomb", endpoint.InvalidImage, "far too many pixels"),
    ],
)
def test_each_fault_maps_onto_the_same_typed_errors(openai_client, standin, fault, error, reason):
    standin.script(fault)

    with pytest.raises(error, match=reason) as caught:
        openai_client(token=TOKEN).text2image("a red fox")

    assert type(caught.value) is error
    assert TOKEN not in caught.value.reason + caught.value.detail


def test_openai_error_bodies_are_read_out_for_staff(openai_client, standin):
    standin.script("503")
    with pytest.raises(endpoint.ServerError) as caught:
        openai_client().text2image("x")
    # The stand-in answers {"error": {"message": "Service Unavailable", ...}}.
    assert caught.value.detail == "HTTP 503; error: 'Service Unavailable'"


def test_a_400_after_a_negative_prompt_suggests_dropping_it(openai_client, standin):
    standin.script("400", "400")
    with pytest.raises(endpoint.RequestRejected, match="negative prompt") as caught:
        openai_client().text2image("x", "blurry")
    assert not caught.value.transient
    with pytest.raises(endpoint.RequestRejected) as caught:
        openai_client().text2image("x")
    assert "negative prompt" not in caught.value.reason


@pytest.mark.parametrize("fault", ["429-retry-after", "429-ratelimit-reset", "429-reset-requests"])
def test_rate_limit_reports_when_to_come_back(openai_client, standin, fault):
    standin.retry_after = 7
    standin.script(fault)
    with pytest.raises(endpoint.RateLimited) as caught:
        openai_client().text2image("x")
    assert caught.value.retry_after == 7


def test_auth_error_without_token_tells_how_to_set_one(openai_client, standin):
    standin.token = TOKEN  # the stand-in now wants a token we do not send
    with pytest.raises(endpoint.AuthRejected, match="OVH_AI_ENDPOINTS_ACCESS_TOKEN"):
        openai_client(token="").text2image("x")
    assert openai_client(token=TOKEN).text2image("x").format == "JPEG"


def test_the_body_cap_is_sized_for_base64(openai_client):
    size = len(render("x", ""))  # base64 makes the body about 4/3 of this
    # An image just under the cap is accepted although its JSON body is bigger than the cap...
    assert len(openai_client(max_bytes=size + 10).text2image("x").data) == size
    # ...and one just over it is refused, once decoded.
    with pytest.raises(endpoint.InvalidImage, match="larger than this gallery accepts") as caught:
        openai_client(max_bytes=size - 10).text2image("x")
    assert "decoded image" in caught.value.detail


def test_a_body_declared_far_over_the_cap_is_refused_before_reading(openai_client):
    with pytest.raises(endpoint.InvalidImage, match="larger than this gallery accepts") as caught:
        openai_client(max_bytes=50_000).text2image("x")
    assert caught.value.detail.startswith("Content-Length")


def test_the_token_is_scrubbed_from_what_the_endpoint_echoes(openai_client, standin):
    # The no-b64 answer echoes the prompt (revised_prompt), and its start goes into `detail`.
    standin.script("no-b64")
    with pytest.raises(endpoint.InvalidImage) as caught:
        openai_client(token=TOKEN).text2image(f"say {TOKEN}")
    assert TOKEN not in caught.value.detail
    assert "say <token>" in caught.value.detail


def test_an_unknown_protocol_cannot_be_configured(endpoint_config):
    with pytest.raises(ValueError, match="protocol"):
        endpoint.EndpointConfig(**{**endpoint_config.__dict__, "protocol": "grpc"})


@pytest.mark.django_db
def test_the_pipeline_stores_an_image_made_over_the_openai_protocol(
    settings, standin, owner, media_root, django_capture_on_commit_callbacks
):
    settings.SDXL_ENDPOINT_PROTOCOL = "openai"
    settings.SDXL_ENDPOINT_URL = standin.openai_url
    settings.SDXL_ENDPOINT_MODEL = "stand-in-sdxl"
    settings.OVH_AI_ENDPOINTS_ACCESS_TOKEN = TOKEN
    settings.GALLERY_STANDIN = False
    settings.GALLERY_READ_TIMEOUT = 5.0
    endpoint._client_for.cache_clear()  # the process-wide client is built from settings
    try:
        with django_capture_on_commit_callbacks():  # the queued task is not needed here
            item = intake.submit(prompt="a quiet harbour", negative_prompt="fog", owner=owner)
        item = worker.generate_now(item.pk)
    finally:
        endpoint._client_for.cache_clear()

    assert item.status == Generation.Status.SUCCEEDED, item.failure_reason
    assert item.original.read() == render("a quiet harbour", "fog")
    assert item.endpoint_label == "stand-in-sdxl at 127.0.0.1 · OpenAI-compatible API"
    assert item.endpoint_url == standin.openai_url
    request = standin.received[-1]
    assert request["path"] == OPENAI_PATH
    assert request["body"]["model"] == "stand-in-sdxl"
    assert request["headers"]["Authorization"] == f"Bearer {TOKEN}"


def test_the_hosted_openai_api_is_paced_like_the_hosted_endpoint_without_a_token(
    settings, endpoint_config
):
    from gallery.services import pacing

    settings.GALLERY_STANDIN = False
    settings.GALLERY_ENDPOINT_RATE_PER_MINUTE = ""
    fields = {**endpoint_config.__dict__, "url": settings.OVH_OPENAI_URL, "protocol": "openai"}
    assert pacing.rate_per_minute(endpoint.EndpointConfig(**fields)) == 2


@pytest.mark.parametrize(
    "document",
    [
        b"[]",
        b'{"data": []}',
        b'{"data": "x"}',
        b'{"data": [{"b64_json": null}]}',
        b'{"data": [{"b64_json": 5}]}',
        b'{"data": [{"b64_json": ""}]}',
        b'{"data": [{"b64_json": ["QUJD"]}]}',
        b"[" * 100_000,  # nesting deep enough to exhaust the parser's recursion
        b"\xff\xfe not utf-8",
    ],
)
def test_odd_json_answers_are_refused_as_holding_no_image(endpoint_config, document):
    # The parsing step alone: shapes the stand-in has no fault for.
    with pytest.raises(endpoint.InvalidImage, match=r"not JSON|holds no image"):
        endpoint._image_from_json(document, endpoint_config)
