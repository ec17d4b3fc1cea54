"""Originals and thumbnails on S3-compatible object storage (django-storages + boto3), against
a real S3 API server on 127.0.0.1 (moto in server mode): the pipeline stores there, the media
view streams or redirects to a presigned URL (after authorising), deletion and the recovery
sweep's orphan cleanup remove objects."""

import socket
from datetime import timedelta

import boto3
import pytest
import requests
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.test import Client
from django.utils import timezone
from moto.server import ThreadedMotoServer

from gallery.models import Generation, Preferences
from gallery.services import endpoint, recovery, storage, worker
from tests.factories import signed_in

pytestmark = [pytest.mark.web, pytest.mark.django_db]
BUCKET = "gallery-media"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def s3_server():
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=_free_port(), verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def bucket(s3_server, settings):
    s3 = boto3.client(
        "s3", endpoint_url=s3_server, region_name="us-east-1",
        aws_access_key_id="test-key", aws_secret_access_key="test-secret",
    )  # fmt: skip
    s3.create_bucket(Bucket=BUCKET)
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "storages.backends.s3.S3Storage",
            "OPTIONS": {
                "bucket_name": BUCKET,
                "endpoint_url": s3_server,
                "region_name": "us-east-1",
                "access_key": "test-key",
                "secret_key": "test-secret",
                "default_acl": "private",
                "querystring_auth": True,
                "querystring_expire": 300,
                "file_overwrite": True,
            },
        },
    }
    yield s3
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET).get("Contents", [])]
    for key in keys:
        s3.delete_object(Bucket=BUCKET, Key=key)
    s3.delete_bucket(Bucket=BUCKET)


def _keys(s3) -> set[str]:
    return {o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET).get("Contents", [])}


@pytest.fixture
def stored(bucket, client_for, owner) -> Generation:
    item = Generation.objects.create(
        prompt="a lighthouse", owner=owner, visibility="private", queued_at=timezone.now()
    )
    worker.run(item.pk, client=client_for(), policy=endpoint.RetryPolicy(max_attempts=1))
    item.refresh_from_db()
    assert item.status == Generation.Status.SUCCEEDED
    return item


def test_the_pipeline_stores_private_objects_in_the_bucket(bucket, stored, standin):
    assert _keys(bucket) == {f.name for f in stored.file_fields()}
    body = bucket.get_object(Bucket=BUCKET, Key=stored.original.name)["Body"].read()
    assert len(body) == stored.byte_size
    grants = bucket.get_object_acl(Bucket=BUCKET, Key=stored.original.name)["Grants"]
    assert all(g["Grantee"].get("URI") is None for g in grants)  # no AllUsers grant
    # Nothing in the bucket is readable without a signature.
    assert (
        requests.get(f"{bucket.meta.endpoint_url}/{BUCKET}/{stored.original.name}").status_code
        == 403
    )


def test_the_media_view_streams_from_the_bucket(bucket, stored):
    response = signed_in(stored.owner).get(stored.original_url)
    assert response.status_code == 200
    body = b"".join(response.streaming_content)
    stored.refresh_from_db()  # the original leaves as its signed copy, stored beside it
    assert body == bucket.get_object(Bucket=BUCKET, Key=stored.signed_original.name)["Body"].read()
    assert response["Content-Type"] == "image/jpeg"


def test_redirect_mode_sends_a_short_lived_presigned_url_after_authorising(
    bucket, stored, settings, other_user
):
    settings.GALLERY_MEDIA_REDIRECT = True
    # The signed copy is an object like the others: S3 serves it.
    Preferences.objects.create(user=stored.owner, embed_metadata=False)
    response = signed_in(stored.owner).get(stored.original_url + "?download=1")
    assert response.status_code == 302
    url = response["Location"]
    assert url.startswith(bucket.meta.endpoint_url) and "Signature" in url
    assert "Expires=" in url or "X-Amz-Expires=300" in url
    assert response["Cache-Control"] == "private, max-age=240"
    fetched = requests.get(url, timeout=10)
    stored.refresh_from_db()
    signed = bucket.get_object(Bucket=BUCKET, Key=stored.signed_original.name)["Body"].read()
    assert fetched.status_code == 200 and fetched.content == signed
    assert fetched.headers["Content-Disposition"].startswith("attachment")

    # Anyone else gets the same 404 as without S3, and no URL.
    for client in (signed_in(other_user), Client()):
        denied = client.get(stored.original_url)
        assert denied.status_code == 404 and "Location" not in denied


def test_deleting_removes_the_objects(bucket, stored, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        storage.delete(stored)
    assert _keys(bucket) == set()


def test_the_sweep_removes_a_dead_workers_objects(
    bucket, settings, django_capture_on_commit_callbacks
):
    # A worker claimed the job, wrote its files, and died before committing the row.
    item = Generation.objects.create(
        prompt="an orphan",
        status=Generation.Status.RUNNING,
        claim_token="deadbeef" * 4,
        claims=1,
        lease_expires_at=timezone.now() - timedelta(seconds=5),
        queued_at=timezone.now(),
    )
    names = storage.file_names(item.public_id, item.claim_token, "jpg")
    for name in (names.original, *names.thumbnails):
        default_storage.save(name, ContentFile(b"partial"))
    assert len(_keys(bucket)) == 3
    settings.GALLERY_QUEUED_GRACE = 3600
    with django_capture_on_commit_callbacks(execute=True):
        recovered = recovery.recover_lost_work()
    assert recovered == 1
    assert _keys(bucket) == set()
    item.refresh_from_db()
    assert (item.status, item.claim_token) == ("queued", "")
