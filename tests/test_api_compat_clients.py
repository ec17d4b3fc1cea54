"""The hosted SDXL API's own documented client examples, run unchanged but for the URL and the
token against a live gallery server: the real `curl` binary and the Python `requests` +
Pillow snippet as a subprocess. (A client that hangs up at once: tests/test_api_compat.py.)

The examples are copied verbatim from the provider's page (OVHcloud AI Endpoints, "Image
Generation SDXL API"). curl: the docs' own `--output my_image.jpeg` instead of `--output -`,
as the page suggests for saving the file."""

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.files.storage import default_storage
from django.test import Client
from PIL import Image

from accounts import tokens
from gallery.models import Generation
from tests.conftest import is_signed_copy
from tests.procs import wait_for

pytestmark = [pytest.mark.system, pytest.mark.django_db(transaction=True)]

HOSTED_URL = "https://stable-diffusion-xl.endpoints.kepler.ai.cloud.ovh.net/api/text2image"
DOCUMENTED_PROMPT = (
    "Photo of a hippopotamus dressed suit and tie sitting in a coffee shop with a matcha "
    "latte, award winning photography, Elke vogelsang, 4k"
)

DOCUMENTED_CURL = """\
curl -X POST "https://stable-diffusion-xl.endpoints.kepler.ai.cloud.ovh.net/api/text2image" \\
    -H 'accept: application/octet-stream' \\
    -H 'content-type: application/json' \\
    -H 'Authorization: Bearer <your-access-token>' \\
    -d '{"negative_prompt":"Ugly, unrealistic","prompt":"Photo of a hippopotamus dressed suit and tie sitting in a coffee shop with a matcha latte, award winning photography, Elke vogelsang, 4k"}' \\
    --output my_image.jpeg
"""  # noqa: E501

DOCUMENTED_PYTHON = """\
import os
import io
import requests
import json
from PIL import Image

url = "https://stable-diffusion-xl.endpoints.kepler.ai.cloud.ovh.net/api/text2image"

data = {
    "prompt": "Photo of a hippopotamus dressed suit and tie sitting in a coffee shop with a matcha latte, award winning photography, Elke vogelsang, 4k",
    "negative_prompt": "Ugly, unrealistic",
}

headers = {
    "accept": "application/octet-stream",
    "content-type": "application/json",
    "Authorization": f"Bearer {os.getenv('OVH_AI_ENDPOINTS_ACCESS_TOKEN')}",
}

response = requests.post(url, headers=headers, data=json.dumps(data))
if response.status_code == 200:
    # Handle response
    response_data = response.content
    img = Image.open(io.BytesIO(response_data))
    img.show()
else:
    print("Error:", response.status_code)
"""  # noqa: E501


@pytest.fixture
def gallery(live_server, standin, settings, media_root) -> str:
    """A live gallery server in front of the stand-in endpoint; its /api/text2image URL."""
    settings.SDXL_ENDPOINT_URL = standin.url
    settings.GALLERY_MAX_ATTEMPTS = 1
    return live_server.url + "/api/text2image"


@pytest.fixture
def token(owner) -> str:
    return tokens.issue(owner, "scripts")[1]


def assert_kept_for(owner, data: bytes | None) -> Generation:
    """The image is in the gallery under `owner`: in the database, in storage (the answer is
    its signed copy) and listed on their history page."""
    item = Generation.objects.get(owner=owner)
    assert item.status == Generation.Status.SUCCEEDED
    assert (item.prompt, item.negative_prompt) == (DOCUMENTED_PROMPT, "Ugly, unrealistic")
    with default_storage.open(item.original.name, "rb") as stored:
        # What the API answered is the stored image, signed (Content Credentials).
        assert data is None or is_signed_copy(data, stored.read())
    browser = Client()
    browser.force_login(owner)
    assert item.public_id in browser.get("/history").content.decode()
    return item


def test_the_documented_curl_command_works_unchanged(gallery, token, owner, tmp_path):
    command = DOCUMENTED_CURL.replace(HOSTED_URL, gallery).replace("<your-access-token>", token)
    done = subprocess.run(
        ["bash", "-c", command], cwd=tmp_path, capture_output=True, text=True, timeout=60
    )

    assert done.returncode == 0, done.stderr
    saved = (tmp_path / "my_image.jpeg").read_bytes()
    with Image.open(io.BytesIO(saved)) as image:
        assert (image.format, image.size) == ("JPEG", (1024, 1024))
    assert_kept_for(owner, saved)


@pytest.fixture
def viewer(tmp_path) -> tuple[Path, Path]:
    """A PATH holding only a stand-in for `xdg-open` that copies the file it is asked to show:
    the snippet's `img.show()` runs as written, and nothing opens a window."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    shown = tmp_path / "shown.png"
    script = bin_dir / "xdg-open"
    script.write_text(
        f'#!/bin/sh\n/bin/cp "$1" "{shown}.part" && /bin/mv "{shown}.part" "{shown}"\n'
    )
    script.chmod(0o755)
    return bin_dir, shown


def run_snippet(gallery: str, token: str, bin_dir: Path, cwd: Path) -> subprocess.CompletedProcess:
    code = DOCUMENTED_PYTHON.replace(HOSTED_URL, gallery)
    env = {**os.environ, "PATH": str(bin_dir), "OVH_AI_ENDPOINTS_ACCESS_TOKEN": token}
    return subprocess.run(
        [sys.executable, "-c", code], cwd=cwd, env=env, capture_output=True, text=True,
        timeout=60,
    )  # fmt: skip


def test_the_documented_python_snippet_works_unchanged(gallery, token, owner, tmp_path, viewer):
    bin_dir, shown = viewer
    done = run_snippet(gallery, token, bin_dir, tmp_path)

    assert done.returncode == 0, done.stderr
    assert "Error" not in done.stdout
    # img.show() handed the decoded image to the "viewer": it opened, at full size.
    wait_for(shown.exists, 10, "img.show() to reach the viewer")
    with Image.open(shown) as image:
        assert image.size == (1024, 1024)
    assert_kept_for(owner, None)  # what the snippet received went to the viewer (above)


def test_the_documented_python_snippet_reports_a_bad_token(gallery, tmp_path, viewer):
    done = run_snippet(gallery, "sdxlg_not-a-token", viewer[0], tmp_path)

    assert done.stdout.strip() == "Error: 401"
    assert not Generation.objects.exists()
