"""Settings read from the environment when a process starts, each checked in a fresh
`python -c` process (settings are read once per process): the endpoint's protocol, its
default URL and label, and a production deployment's S3, Redis queue, database pool and CSP."""

import json
import subprocess
import sys

import pytest

from tests.procs import ROOT

pytestmark = pytest.mark.system

# --- The endpoint's protocol (SDXL_ENDPOINT_PROTOCOL) ---------------------------------------


def _settings_in_subprocess(code: str, **env: str) -> subprocess.CompletedProcess:
    environ = {
        "PATH": "/usr/bin:/bin",
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "GALLERY_ENV_FILE": "",
        "SECRET_KEY": "settings-test-" + "k" * 40,
        **env,
    }
    program = f"import django; django.setup(); {code}"
    return subprocess.run(
        [sys.executable, "-c", program],
        cwd=ROOT,
        env=environ,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_an_unknown_protocol_setting_stops_startup_with_a_clear_message():
    out = _settings_in_subprocess("", SDXL_ENDPOINT_PROTOCOL="grpc")
    assert out.returncode != 0
    assert "ImproperlyConfigured" in out.stderr
    assert "SDXL_ENDPOINT_PROTOCOL must be 'text2image' (the default) or 'openai'" in out.stderr


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        (
            {},
            "text2image https://stable-diffusion-xl.endpoints.kepler.ai.cloud.ovh.net"
            "/api/text2image Stable Diffusion XL · OVHcloud AI Endpoints",
        ),
        (
            {"SDXL_ENDPOINT_PROTOCOL": "OpenAI"},
            "openai https://oai.endpoints.kepler.ai.cloud.ovh.net/v1/images/generations "
            "Stable Diffusion XL · OVHcloud AI Endpoints · OpenAI-compatible API",
        ),
        (
            {
                "SDXL_ENDPOINT_PROTOCOL": "openai",
                "SDXL_ENDPOINT_URL": "https://images.example.org/v1/images/generations",
                "SDXL_ENDPOINT_MODEL": "my-sdxl",
            },
            "openai https://images.example.org/v1/images/generations "
            "my-sdxl at images.example.org · OpenAI-compatible API",
        ),
    ],
)
def test_settings_pick_the_protocol_its_default_url_and_an_honest_label(env, expected):
    out = _settings_in_subprocess(
        "from gallery.services.endpoint import EndpointConfig; "
        "c = EndpointConfig.from_settings(); print(c.protocol, c.url, c.label)",
        **env,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == expected


# --- A production deployment ----------------------------------------------------------------


def test_production_settings_come_from_the_environment():
    """S3, the Redis queue, psycopg's pool and the CSP's bucket origin, as a deployment sets
    them (a fresh process: settings are read once)."""
    import subprocess
    import sys

    env = {
        **{k: v for k, v in __import__("os").environ.items() if k != "DATABASE_URL"},
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "GALLERY_ENV_FILE": "",
        "SECRET_KEY": "settings-test-" + "k" * 40,
        "DATABASE_URL": "postgres://gallery@db.internal:5432/gallery",
        "GALLERY_DB_POOL": "true",
        "GALLERY_DB_POOL_MAX": "20",
        "GALLERY_TASK_BACKEND": "rq",
        "REDIS_URL": "redis://queue.internal:6379/3",
        "GALLERY_S3_BUCKET": "media-bucket",
        "AWS_S3_ENDPOINT_URL": "https://s3.example.net",
        "GALLERY_MEDIA_REDIRECT": "true",
    }
    code = (
        "import json; from django.conf import settings as s; print(json.dumps(["
        "s.DATABASES['default']['OPTIONS'], s.DATABASES['default']['CONN_MAX_AGE'],"
        "s.TASKS['default']['BACKEND'], s.RQ_QUEUES['default']['URL'],"
        "s.STORAGES['default'], s.CONTENT_SECURITY_POLICY['DIRECTIVES']['img-src']]))"
    )
    out = subprocess.run(
        [sys.executable, "-c", f"import django; django.setup(); {code}"],
        cwd=ROOT, env=env, capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    options, max_age, backend, redis_url, storage, img_src = json.loads(out)
    assert options["pool"]["max_size"] == 20 and max_age == 0
    assert backend == "django_tasks_rq.RQBackend" and redis_url.endswith("/3")
    assert storage["BACKEND"] == "storages.backends.s3.S3Storage"
    assert storage["OPTIONS"]["bucket_name"] == "media-bucket"
    assert storage["OPTIONS"]["default_acl"] == "private"
    assert storage["OPTIONS"]["querystring_auth"] is True
    assert img_src == ["'self'", "data:", "https://s3.example.net"]
