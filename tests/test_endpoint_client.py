"""The endpoint client against the stand-in, over real HTTP on 127.0.0.1."""

import pytest

from gallery.services import endpoint

pytestmark = pytest.mark.unit


def test_success_returns_verified_jpeg_with_protocol_headers(client_for, standin):
    image = client_for(token="s3cret-token").text2image("a red fox", "blurry")

    assert (image.format, image.width, image.height) == ("JPEG", 1024, 1024)
    assert image.data[:3] == b"\xff\xd8\xff"
    request = standin.received[-1]
    assert request["body"] == {"prompt": "a red fox", "negative_prompt": "blurry"}
    headers = {k.lower(): v for k, v in request["headers"].items()}
    assert headers["accept"] == "application/octet-stream"
    assert headers["content-type"] == "application/json"
    assert headers["authorization"] == "Bearer s3cret-token"


def test_no_token_means_no_authorization_header_and_no_empty_negative(client_for, standin):
    client_for().text2image("a red fox")

    request = standin.received[-1]
    assert "authorization" not in {k.lower() for k in request["headers"]}
    assert request["body"] == {"prompt": "a red fox"}


@pytest.mark.parametrize(
    ("fault", "error", "transient"),
    [
        ("401", endpoint.AuthRejected, False),
        ("403", endpoint.AuthRejected, False),
        ("404", endpoint.EndpointGone, False),
        ("429", endpoint.RateLimited, True),
        ("500", endpoint.ServerError, True),
        ("502", endpoint.ServerError, True),
        ("503", endpoint.ServerError, True),
        ("timeout", endpoint.EndpointUnreachable, True),
        ("reset", endpoint.EndpointUnreachable, True),
        ("html", endpoint.InvalidImage, False),
        ("garbage", endpoint.InvalidImage, False),
        ("truncated", endpoint.InvalidImage, False),
        ("oversized", endpoint.InvalidImage, False),
        ("bomb", endpoint.InvalidImage, False),
    ],
)
def test_each_fault_raises_its_typed_error(client_for, standin, fault, error, transient):
    standin.script(fault)

    with pytest.raises(error) as caught:
        client_for(token="s3cret-token").text2image("a red fox")

    assert caught.value.transient is transient
    assert caught.value.reason  # a sentence a user can read
    assert "s3cret-token" not in caught.value.reason + caught.value.detail


def test_rate_limit_without_retry_after_has_no_wait_hint(client_for, standin):
    standin.script("429")
    with pytest.raises(endpoint.RateLimited) as caught:
        client_for().text2image("x")
    assert caught.value.retry_after is None


@pytest.mark.parametrize("fault", ["429-retry-after", "429-ratelimit-reset"])
def test_rate_limit_reports_when_to_come_back(client_for, standin, fault):
    standin.retry_after = 7
    standin.script(fault)
    with pytest.raises(endpoint.RateLimited) as caught:
        client_for().text2image("x")
    assert caught.value.retry_after == 7


def test_auth_error_without_token_tells_how_to_set_one(client_for, standin):
    standin.script("401")
    with pytest.raises(endpoint.AuthRejected, match="OVH_AI_ENDPOINTS_ACCESS_TOKEN"):
        client_for(token="").text2image("x")


def test_connection_refused_is_unreachable(client_for):
    with pytest.raises(endpoint.EndpointUnreachable):
        client_for(url="http://127.0.0.1:9/api/text2image").text2image("x")


def test_declared_oversized_body_is_refused_before_reading(client_for, standin):
    # A normal 1024x1024 JPEG is ~200 KB: a 50 KB cap must refuse it by its Content-Length.
    with pytest.raises(endpoint.InvalidImage, match="larger than this gallery accepts"):
        client_for(max_bytes=50_000).text2image("x")


def test_pixel_cap_refuses_large_images(client_for):
    with pytest.raises(endpoint.InvalidImage, match="1024x1024"):
        client_for(max_pixels=512 * 512).text2image("x")


def test_the_token_never_appears_in_the_client_repr(endpoint_config):
    config = endpoint.EndpointConfig(**{**endpoint_config.__dict__, "token": "s3cret-token"})
    assert "s3cret-token" not in repr(config)
    assert "s3cret-token" not in repr(endpoint.SDXLClient(config).__dict__)


def test_retry_policy_backs_off_and_honours_retry_after():
    policy = endpoint.RetryPolicy(max_attempts=4, base_delay=2, max_delay=60)
    plain = endpoint.ServerError("x")
    delays = [policy.delay(n, plain) for n in (1, 2, 3, 4, 5, 6, 7)]
    assert 1 <= delays[0] <= 2
    assert 2 <= delays[1] <= 4
    assert 4 <= delays[2] <= 8
    assert all(d <= 60 for d in delays)
    assert policy.delay(1, endpoint.RateLimited("x", retry_after=30)) == 30
    assert (
        policy.delay(1, endpoint.RateLimited("x", retry_after=10_000)) == endpoint.RETRY_AFTER_LIMIT
    )
