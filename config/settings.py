"""Settings for the SDXL gallery.

Everything a deployment changes comes from the environment (or a `.env` file beside
manage.py), 12-factor style. The defaults are the embedded setup: SQLite and local files
under ./data, one machine, no external service needed.
"""

import importlib.util
import os
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
# GALLERY_ENV_FILE="" disables the file (the test settings do, so a developer's .env with a
# real token never leaks into a test run).
_env_file = os.environ.get("GALLERY_ENV_FILE", str(BASE_DIR / ".env"))
if _env_file and Path(_env_file).is_file():
    env.read_env(_env_file)

DEBUG = env.bool("DEBUG", default=False)

SECRET_KEY = env.str("SECRET_KEY", default="")
if not SECRET_KEY:
    raise ImproperlyConfigured(
        "SECRET_KEY is not set. `make run` writes a random one into .env on first start; "
        "in production set it in the environment."
    )
if not DEBUG and (len(SECRET_KEY) < 40 or SECRET_KEY.startswith("django-insecure")):
    raise ImproperlyConfigured(
        "SECRET_KEY is too short or an insecure default; use 50 random characters."
    )

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

DATA_DIR = Path(env.str("GALLERY_DATA_DIR", default=str(BASE_DIR / "data")))

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_htmx",
    "template_partials",
    "django_tasks",
    "django_tasks_db",
    "csp",
    # django-ninja: its templates and static files serve the API docs page without a CDN.
    "ninja",
    # core (site settings, request helpers) <- accounts (identity) <- gallery.
    "core",
    "accounts",
    "gallery",
]

MIDDLEWARE = [
    # First, so every log line of the request (and the response) carries its id.
    "gallery.middleware.RequestIdMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    # After sessions, before common: the language comes from the picker's cookie, else
    # the browser's Accept-Language, else English.
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "gallery.context_processors.gallery",
                "accounts.context_processors.accounts",
            ],
        },
    }
]

# Database: SQLite in the data dir unless DATABASE_URL says otherwise.
DATABASES = {
    "default": env.db_url("DATABASE_URL", default=f"sqlite:///{DATA_DIR / 'gallery.sqlite3'}")
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    Path(DATABASES["default"]["NAME"]).parent.mkdir(parents=True, exist_ok=True)
    # A web server and a worker share the file: WAL lets readers run beside the writer,
    # IMMEDIATE takes the write lock up front (no deadlock-prone lock upgrades) and the
    # timeout makes a writer wait for the lock instead of failing at once.
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
elif DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql" and env.bool(
    "GALLERY_DB_POOL", default=False
):
    # psycopg's own pool in each process (Django 5.1+): connections are reused across
    # requests and threads without a pgbouncer. Django refuses CONN_MAX_AGE beside it.
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
        "min_size": env.int("GALLERY_DB_POOL_MIN", default=2),
        "max_size": env.int("GALLERY_DB_POOL_MAX", default=10),
        "timeout": env.float("GALLERY_DB_POOL_TIMEOUT", default=10.0),
    }
else:
    # Persistent connections, checked before reuse (a restarted server costs one error-free
    # reconnect, not a failed request). Behind pgbouncer in transaction mode set
    # CONN_MAX_AGE=0 and DISABLE_SERVER_SIDE_CURSORS=true (see docs/deploy.md).
    DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("CONN_MAX_AGE", default=60))
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
    if env.bool("DISABLE_SERVER_SIDE_CURSORS", default=False):
        DATABASES["default"]["DISABLE_SERVER_SIDE_CURSORS"] = True

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# The task queue. "database" (the default): django-tasks-db in the same database, workers are
# `manage.py gallery_worker`. "rq": Redis via django-tasks-rq, workers are
# `manage.py gallery_rqworker`; for fleets whose queue traffic should not load the database.
GALLERY_TASK_BACKEND = env.str("GALLERY_TASK_BACKEND", default="database")
if GALLERY_TASK_BACKEND == "database":
    TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
elif GALLERY_TASK_BACKEND == "rq":
    INSTALLED_APPS += ["django_rq", "django_tasks_rq"]
    TASKS = {"default": {"BACKEND": "django_tasks_rq.RQBackend", "QUEUES": ["default"]}}
    RQ_QUEUES = {
        "default": {
            "URL": env.str("REDIS_URL", default="redis://127.0.0.1:6379/0"),
            # RQ's own job timeout; our pipeline keeps to the endpoint's time budget.
            "DEFAULT_TIMEOUT": env.int("GALLERY_RQ_JOB_TIMEOUT", default=3600),
        }
    }
else:
    raise ImproperlyConfigured(
        f"GALLERY_TASK_BACKEND must be 'database' or 'rq', not {GALLERY_TASK_BACKEND!r}."
    )
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "gallery:index"
LOGOUT_REDIRECT_URL = "gallery:index"

# Single sign-on through an OpenID Connect provider (the `oidc` extra, mozilla-django-oidc):
# off unless OIDC_RP_CLIENT_ID is set. The local password sign-in stays for everyone who has
# a password (the administrator made at first run always does).
OIDC_RP_CLIENT_ID = env.str("OIDC_RP_CLIENT_ID", default="")
OIDC_ENABLED = bool(OIDC_RP_CLIENT_ID)
OIDC_PROVIDER_NAME = env.str("OIDC_PROVIDER_NAME", default="single sign-on")
OIDC_RP_CLIENT_SECRET = env.str("OIDC_RP_CLIENT_SECRET", default="")
OIDC_OP_ISSUER = env.str("OIDC_OP_ISSUER", default="").rstrip("/")
OIDC_OP_AUTHORIZATION_ENDPOINT = env.str("OIDC_OP_AUTHORIZATION_ENDPOINT", default="")
OIDC_OP_TOKEN_ENDPOINT = env.str("OIDC_OP_TOKEN_ENDPOINT", default="")
OIDC_OP_USER_ENDPOINT = env.str("OIDC_OP_USER_ENDPOINT", default="")
OIDC_OP_JWKS_ENDPOINT = env.str("OIDC_OP_JWKS_ENDPOINT", default="")
OIDC_RP_SIGN_ALGO = env.str("OIDC_RP_SIGN_ALGO", default="RS256")
OIDC_RP_SCOPES = "openid email profile"
OIDC_USE_PKCE = True
OIDC_TIMEOUT = env.float("OIDC_TIMEOUT", default=10.0)
OIDC_AUTHENTICATE_CLASS = "accounts.oidc.StartView"
OIDC_CALLBACK_CLASS = "accounts.oidc.CallbackView"
if OIDC_ENABLED:
    _oidc_missing = [
        name
        for name in (
            "OIDC_RP_CLIENT_SECRET",
            "OIDC_OP_ISSUER",
            "OIDC_OP_AUTHORIZATION_ENDPOINT",
            "OIDC_OP_TOKEN_ENDPOINT",
            "OIDC_OP_USER_ENDPOINT",
        )
        if not globals()[name]
    ]
    if OIDC_RP_SIGN_ALGO.startswith(("RS", "ES")) and not OIDC_OP_JWKS_ENDPOINT:
        _oidc_missing.append("OIDC_OP_JWKS_ENDPOINT")
    if _oidc_missing:
        raise ImproperlyConfigured(
            "Single sign-on is on (OIDC_RP_CLIENT_ID is set) but these are not: "
            + ", ".join(_oidc_missing)
            + ". Copy them from your provider's /.well-known/openid-configuration, or unset "
            "OIDC_RP_CLIENT_ID to turn single sign-on off."
        )
    if OIDC_RP_SIGN_ALGO not in {"RS256", "RS384", "RS512", "ES256", "ES384", "ES512", "HS256"}:
        raise ImproperlyConfigured(
            f"OIDC_RP_SIGN_ALGO must be one of RS256, ES256 (or RS384, RS512, ES384, ES512, "
            f"HS256), not {OIDC_RP_SIGN_ALGO!r}."
        )
    if importlib.util.find_spec("mozilla_django_oidc") is None:
        raise ImproperlyConfigured(
            "Single sign-on is on (OIDC_RP_CLIENT_ID is set) but its extra is not installed: "
            "pip install '.[oidc]'."
        )
    AUTHENTICATION_BACKENDS = [
        "django.contrib.auth.backends.ModelBackend",
        "accounts.oidc.Backend",
    ]

# Email (password resets): printed to the console unless configured, e.g.
# EMAIL_URL=smtp+tls://user:password@smtp.example.org:587, or EMAIL_HOST and friends.
if env.str("EMAIL_URL", default="") or not env.str("EMAIL_HOST", default=""):
    vars().update(env.email_url("EMAIL_URL", default="consolemail://"))
else:
    EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    EMAIL_HOST = env.str("EMAIL_HOST")
    EMAIL_PORT = env.int("EMAIL_PORT", default=587)
    EMAIL_HOST_USER = env.str("EMAIL_HOST_USER", default="")
    EMAIL_HOST_PASSWORD = env.str("EMAIL_HOST_PASSWORD", default="")
    EMAIL_USE_TLS = env.bool("EMAIL_USE_TLS", default=True)
    EMAIL_USE_SSL = env.bool("EMAIL_USE_SSL", default=False)
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", default=20)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="SDXL Gallery <gallery@localhost>")

LANGUAGE_CODE = "en"
# English is the source language; French (the hosted endpoint's home market) and German are
# complete catalogs under locale/ (make messages; scripts/check_translations.py in make lint).
LANGUAGES = [("en", "English"), ("fr", "Français"), ("de", "Deutsch")]
LOCALE_PATHS = [BASE_DIR / "locale"]
LANGUAGE_COOKIE_SECURE = env.bool("GALLERY_HTTPS", default=False)
LANGUAGE_COOKIE_SAMESITE = "Lax"
TIME_ZONE = env.str("TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path(env.str("STATIC_ROOT", default=str(BASE_DIR / "staticfiles")))
STATICFILES_DIRS = [BASE_DIR / "static"]
MEDIA_ROOT = Path(env.str("MEDIA_ROOT", default=str(DATA_DIR / "media")))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    # Whitenoise's compressed manifest storage, plus hashed imports between our ES modules.
    "staticfiles": {"BACKEND": "config.storage.StaticStorage"},
}
# Object storage: originals and thumbnails in an S3-compatible bucket (django-storages).
# Credentials come from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (or an instance role).
GALLERY_S3_BUCKET = env.str("GALLERY_S3_BUCKET", default="")
AWS_S3_ENDPOINT_URL = env.str("AWS_S3_ENDPOINT_URL", default="")
if GALLERY_S3_BUCKET:
    STORAGES["default"] = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": GALLERY_S3_BUCKET,
            "endpoint_url": AWS_S3_ENDPOINT_URL or None,
            "region_name": env.str("AWS_S3_REGION_NAME", default="") or None,
            "access_key": env.str("AWS_ACCESS_KEY_ID", default="") or None,
            "secret_key": env.str("AWS_SECRET_ACCESS_KEY", default="") or None,
            "location": env.str("GALLERY_S3_PREFIX", default=""),
            # Private objects; a URL to one is only ever a short-lived signed one.
            "default_acl": "private",
            "querystring_auth": True,
            "querystring_expire": env.int("GALLERY_MEDIA_URL_EXPIRY", default=300),
            # Names carry the claim token: never silently rename, never overwrite another's.
            "file_overwrite": True,
        },
    }
# How the media view hands over the bytes, once it has authorised the request:
#   ""       stream them through the app (works everywhere; the default)
#   "nginx"  X-Accel-Redirect to an internal location (local files only)
#   "apache" X-Sendfile with the file's path (mod_xsendfile; local files only)
# and, on S3, GALLERY_MEDIA_REDIRECT=true answers with a 302 to a presigned URL instead.
GALLERY_MEDIA_ACCEL = env.str("GALLERY_MEDIA_ACCEL", default="")
GALLERY_MEDIA_ACCEL_PREFIX = env.str("GALLERY_MEDIA_ACCEL_PREFIX", default="/protected-media/")
GALLERY_MEDIA_REDIRECT = env.bool("GALLERY_MEDIA_REDIRECT", default=False)
if GALLERY_MEDIA_ACCEL not in ("", "nginx", "apache"):
    raise ImproperlyConfigured("GALLERY_MEDIA_ACCEL must be '', 'nginx' or 'apache'.")
if GALLERY_MEDIA_ACCEL and GALLERY_S3_BUCKET:
    raise ImproperlyConfigured(
        "GALLERY_MEDIA_ACCEL serves local files; with GALLERY_S3_BUCKET use "
        "GALLERY_MEDIA_REDIRECT=true instead."
    )
# Public thumbnails and previews (/media/<id>/public/<name>) are answered by config/asgi.py
# from each web process's memory, up to GALLERY_MEDIA_CACHE_BYTES each, while anyone may see
# them (gallery/services/media_cache.py). Only with local files streamed by the app (not
# GALLERY_MEDIA_ACCEL or S3), and only on one host: processes are told of access changes
# through a file in GALLERY_DATA_DIR, so web hosts that do not share it must turn it off.
GALLERY_MEDIA_FAST_PATH = env.bool("GALLERY_MEDIA_FAST_PATH", default=True)
GALLERY_MEDIA_CACHE_BYTES = env.int("GALLERY_MEDIA_CACHE_BYTES", default=64 * 1024 * 1024)
GALLERY_MEDIA_STAMP = DATA_DIR / "media-access.stamp"
# The signed-out grid's HTML is kept in each web process's memory too, forgotten whenever
# what a signed-out visitor sees may change (gallery/services/page_cache.py); the same
# one-host rule as above applies.
GALLERY_PAGE_CACHE = env.bool("GALLERY_PAGE_CACHE", default=True)
GALLERY_PAGE_STAMP = DATA_DIR / "page-content.stamp"
# Nothing is routed at MEDIA_URL: every image is served by gallery.views.media (/media/...),
# which checks the row the file belongs to. Storage only needs a value here.
MEDIA_URL = "/storage/"

# Security. GALLERY_HTTPS=true is the production switch: the site is served over HTTPS
# behind a proxy that sets X-Forwarded-Proto.
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True
if env.bool("GALLERY_HTTPS", default=False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=60 * 60 * 24 * 365)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=True)
    SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=True)
    # Load balancers probe over plain HTTP.
    SECURE_REDIRECT_EXEMPT = [r"^healthz$"]

# Content-Security-Policy (django-csp): no inline script anywhere, nothing from elsewhere.
# style-src-attr allows only inline style *attributes*: the templates paint each tile's
# placeholder colour with style="--ph: #rrggbb" (no script, no <style> element).
_img_src = ["'self'", "data:"]
if GALLERY_S3_BUCKET and GALLERY_MEDIA_REDIRECT:
    # Presigned URLs point at the bucket's host.
    _img_src.append(
        env.str("GALLERY_S3_PUBLIC_ORIGIN", default="")
        or AWS_S3_ENDPOINT_URL
        or f"https://{GALLERY_S3_BUCKET}.s3.amazonaws.com"
    )
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "img-src": _img_src,
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "style-src-attr": ["'unsafe-inline'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "frame-ancestors": ["'none'"],
        "form-action": ["'self'"],
    }
}

# GALLERY_LOG_FORMAT=json: one JSON object a line (python-json-logger), for log shippers.
# Every line carries the request id and, inside the pipeline, the generation's public id.
GALLERY_LOG_FORMAT = env.str("GALLERY_LOG_FORMAT", default="plain")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"context": {"()": "gallery.logcontext.ContextFilter"}},
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"},
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": "%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s %(generation)s",
            "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
        },
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "json" if GALLERY_LOG_FORMAT == "json" else "plain",
            "filters": ["context"],
        }
    },
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}

# --- The text-to-image endpoint -------------------------------------------------------------
# Which protocol the gallery speaks to it: "text2image" (the hosted SDXL API: JSON in, image
# bytes out) or "openai" (an OpenAI-compatible POST /v1/images/generations answering
# b64_json; the hosted provider serves one for SDXL at OVH_OPENAI_URL).
SDXL_ENDPOINT_PROTOCOL = env.str("SDXL_ENDPOINT_PROTOCOL", default="text2image").strip().lower()
if SDXL_ENDPOINT_PROTOCOL not in ("text2image", "openai"):
    raise ImproperlyConfigured(
        "SDXL_ENDPOINT_PROTOCOL must be 'text2image' (the default) or 'openai', "
        f"not {SDXL_ENDPOINT_PROTOCOL!r}."
    )
OVH_SDXL_URL = "https://stable-diffusion-xl.endpoints.kepler.ai.cloud.ovh.net/api/text2image"
OVH_OPENAI_URL = "https://oai.endpoints.kepler.ai.cloud.ovh.net/v1/images/generations"
SDXL_ENDPOINT_URL = env.str(
    "SDXL_ENDPOINT_URL",
    default=OVH_OPENAI_URL if SDXL_ENDPOINT_PROTOCOL == "openai" else OVH_SDXL_URL,
)
# The "model" sent in OpenAI-protocol requests: the hosted provider's id for SDXL base 1.0
# (as its /v1/models lists it). Unused by the text2image protocol, whose URL names the model.
SDXL_ENDPOINT_MODEL = env.str("SDXL_ENDPOINT_MODEL", default="stable-diffusion-xl-base-v10")
OVH_AI_ENDPOINTS_ACCESS_TOKEN = env.str("OVH_AI_ENDPOINTS_ACCESS_TOKEN", default="")
# Whether the user chose an endpoint; if not, `manage.py up` starts the offline stand-in.
GALLERY_ENDPOINT_CONFIGURED = bool(
    OVH_AI_ENDPOINTS_ACCESS_TOKEN or env.str("SDXL_ENDPOINT_URL", "")
)
# Set by `manage.py up` when it starts the bundled offline stand-in, so the UI can say so.
GALLERY_STANDIN = env.bool("GALLERY_STANDIN", default=False)

# Seconds to open a connection, and the whole budget for one answer (headers and body).
GALLERY_CONNECT_TIMEOUT = env.float("GALLERY_CONNECT_TIMEOUT", default=10.0)
GALLERY_READ_TIMEOUT = env.float("GALLERY_READ_TIMEOUT", default=180.0)
# Tries per generation for transient failures (429, 5xx, timeouts), with exponential backoff:
# six tries wait about 45 s in all (31-62 s with jitter), so an endpoint away for half a
# minute costs no image (bench/faults.py --only down).
GALLERY_MAX_ATTEMPTS = env.int("GALLERY_MAX_ATTEMPTS", default=6)
GALLERY_RETRY_BASE_DELAY = env.float("GALLERY_RETRY_BASE_DELAY", default=2.0)
GALLERY_RETRY_MAX_DELAY = env.float("GALLERY_RETRY_MAX_DELAY", default=60.0)
# Untrusted answers: body size cap (read while streaming) and pixel cap (decompression bombs).
GALLERY_MAX_IMAGE_BYTES = env.int("GALLERY_MAX_IMAGE_BYTES", default=20 * 1024 * 1024)
GALLERY_MAX_IMAGE_PIXELS = env.int("GALLERY_MAX_IMAGE_PIXELS", default=4096 * 4096)
# --- Content Credentials (C2PA) ------------------------------------------------------------
# Every original that leaves the gallery is a signed copy (gallery.services.provenance). By
# default the installation signs with a chain it makes on first use, kept in this folder
# (never served, never in the repository). An operator's own chain instead: a PEM file with
# the signing certificate first, then its intermediates, and the PEM private key (both or
# neither), signed with ES256 (EC P-256 key) or PS256 (RSA key).
GALLERY_C2PA_DIR = Path(env.str("GALLERY_C2PA_DIR", default=str(DATA_DIR / "c2pa")))
GALLERY_C2PA_CERT_CHAIN = env.str("GALLERY_C2PA_CERT_CHAIN", default="")
GALLERY_C2PA_PRIVATE_KEY = env.str("GALLERY_C2PA_PRIVATE_KEY", default="")
GALLERY_C2PA_ALGORITHM = env.str("GALLERY_C2PA_ALGORITHM", default="es256").lower()
# Root certificates (PEM file) the verify page trusts besides this installation's own CA.
GALLERY_C2PA_TRUST_ANCHORS = env.str("GALLERY_C2PA_TRUST_ANCHORS", default="")
if bool(GALLERY_C2PA_CERT_CHAIN) != bool(GALLERY_C2PA_PRIVATE_KEY):
    raise ImproperlyConfigured(
        "Set both GALLERY_C2PA_CERT_CHAIN and GALLERY_C2PA_PRIVATE_KEY, or neither."
    )
if GALLERY_C2PA_ALGORITHM not in ("es256", "ps256"):
    raise ImproperlyConfigured("GALLERY_C2PA_ALGORITHM must be es256 or ps256.")
# The verify page (/verify) reads an uploaded file in memory, at most this many bytes.
# The image scan at ingest (the optional `scan` extra, nudenet): "auto" runs it when the
# extra is installed, "off" never; a dotted path names another detector (tests, a custom
# model). A scan taking longer than GALLERY_SCAN_TIMEOUT seconds holds the image for review.
GALLERY_SCAN = env.str("GALLERY_SCAN", default="auto")
GALLERY_SCAN_TIMEOUT = env.float("GALLERY_SCAN_TIMEOUT", default=10.0)

GALLERY_VERIFY_MAX_BYTES = env.int("GALLERY_VERIFY_MAX_BYTES", default=GALLERY_MAX_IMAGE_BYTES)
# `import_gallery`: an archive is as untrusted as the endpoint. Each original may be as large
# as an endpoint answer; all the originals one import reads together at most this much.
GALLERY_IMPORT_MAX_FILE_BYTES = env.int(
    "GALLERY_IMPORT_MAX_FILE_BYTES", default=GALLERY_MAX_IMAGE_BYTES
)
GALLERY_IMPORT_MAX_TOTAL_BYTES = env.int(
    "GALLERY_IMPORT_MAX_TOTAL_BYTES", default=64 * 1024 * 1024 * 1024
)

# --- The web server (config/asgi.py, config/server.py) ----------------------------------
# A request body must arrive within this many seconds (408 otherwise), and a request
# without a valid session or API token may send at most this many bytes (413 otherwise).
GALLERY_BODY_DEADLINE = env.float("GALLERY_BODY_DEADLINE", default=10.0)
GALLERY_ANONYMOUS_BODY_MAX = env.int("GALLERY_ANONYMOUS_BODY_MAX", default=64 * 1024)

# --- The gallery --------------------------------------------------------------------------
GALLERY_PROMPT_MAX_LENGTH = env.int("GALLERY_PROMPT_MAX_LENGTH", default=1000)
GALLERY_NEGATIVE_PROMPT_MAX_LENGTH = env.int("GALLERY_NEGATIVE_PROMPT_MAX_LENGTH", default=1000)
GALLERY_PAGE_SIZE = env.int("GALLERY_PAGE_SIZE", default=48)
# How often a worker looks for work that was lost (a worker died, an enqueue never happened),
# and how long a queued row may wait without a live task before it is enqueued again.
GALLERY_SWEEP_INTERVAL = env.float("GALLERY_SWEEP_INTERVAL", default=10.0)
# Generation workers lower their own scheduling priority by this much (os.nice), so the web
# server gets the CPU first when both want it; 0 leaves them as they are.
GALLERY_WORKER_NICE = env.int("GALLERY_WORKER_NICE", default=10)
GALLERY_QUEUED_GRACE = env.float("GALLERY_QUEUED_GRACE", default=60.0)
# A worker keeps its claim on a job alive with a heartbeat: every GALLERY_HEARTBEAT_INTERVAL
# seconds it moves the claim's lease GALLERY_CLAIM_SILENCE seconds ahead. A claim silent for
# that long belongs to a dead worker, and the next sweep gives its job to another. At least
# three beats per silence, so that a missed beat (a locked or restarting database) does not
# let a live claim lapse.
GALLERY_CLAIM_SILENCE = env.float("GALLERY_CLAIM_SILENCE", default=30.0)
GALLERY_HEARTBEAT_INTERVAL = env.float("GALLERY_HEARTBEAT_INTERVAL", default=10.0)
if not 0 < GALLERY_HEARTBEAT_INTERVAL * 3 <= GALLERY_CLAIM_SILENCE:
    raise ImproperlyConfigured(
        "GALLERY_HEARTBEAT_INTERVAL must be above 0 and at most a third of GALLERY_CLAIM_SILENCE."
    )
# A generation whose worker died this many times is failed instead of retried again.
GALLERY_MAX_CLAIMS = env.int("GALLERY_MAX_CLAIMS", default=3)

# --- Accounts, quotas and rate limits -------------------------------------------------------
# Days an invitation link stays valid.
GALLERY_INVITE_DAYS = env.int("GALLERY_INVITE_DAYS", default=7)
# Images a user (not staff) may request per day (UTC), and have waiting in the queue (not
# yet started; how many run at once is the workers' business). 0 turns a limit off.
GALLERY_DAILY_QUOTA = env.int("GALLERY_DAILY_QUOTA", default=50)
GALLERY_MAX_WAITING = env.int("GALLERY_MAX_WAITING", default=20)
# Images one submission from the composer may ask for (its batch count goes 1 to this).
GALLERY_MAX_BATCH = env.int("GALLERY_MAX_BATCH", default=4)
# Generation workers running (for the queue's estimate of when an image starts; `make run`
# starts this many).
GALLERY_WORKERS = env.int("GALLERY_WORKERS", default=2)
# Per client address: "<count>/<period>" with s, m, h or d ("10/5m"); "0" turns one off.
# The sign-in rate also applies, counted separately, to sign-ups and password resets.
GALLERY_IP_RATES = {
    "signin": env.str("GALLERY_SIGNIN_RATE", default="10/5m"),
    "signup": env.str("GALLERY_SIGNIN_RATE", default="10/5m"),
    "reset": env.str("GALLERY_SIGNIN_RATE", default="10/5m"),
    "submit": env.str("GALLERY_SUBMIT_RATE", default="30/m"),
    # Files checked on the verify page.
    "verify": env.str("GALLERY_VERIFY_RATE", default="20/m"),
    # Share-link pages opened; wrong share-link passwords count as sign-in attempts do.
    "share": env.str("GALLERY_SHARE_RATE", default="60/m"),
    "share_password": env.str("GALLERY_SIGNIN_RATE", default="10/5m"),
}
# Per account (per typed username, whether or not it exists): wrong passwords allowed before
# each further one makes the next check wait, doubling from 5 s up to the cap in seconds.
# A delay always ends: nobody can lock an owner out. A MAX_DELAY of 0 turns the delays off.
GALLERY_SIGNIN_ACCOUNT_FREE_FAILURES = env.int("GALLERY_SIGNIN_ACCOUNT_FREE_FAILURES", default=5)
GALLERY_SIGNIN_ACCOUNT_MAX_DELAY = env.int("GALLERY_SIGNIN_ACCOUNT_MAX_DELAY", default=900)
# Behind a reverse proxy: the header it puts the client's address in (X-Forwarded-For,
# X-Real-IP). Empty: REMOTE_ADDR. Only set it behind a proxy that overwrites the header.
GALLERY_TRUSTED_PROXY_HEADER = env.str("GALLERY_TRUSTED_PROXY_HEADER", default="")
# Calls per minute to the endpoint, shared by every worker. Empty: 400 with a token, 2 on
# the hosted endpoint without one, unlimited for the stand-in and other servers.
GALLERY_ENDPOINT_RATE_PER_MINUTE = env.str("GALLERY_ENDPOINT_RATE_PER_MINUTE", default="")

# --- Operations: /metrics and error reporting -----------------------------------------------
# /metrics in Prometheus's text format (the `metrics` extra): 404 unless on. A scraper then
# needs the bearer token, or an address in the allowed networks (comma-separated CIDRs).
GALLERY_METRICS = env.bool("GALLERY_METRICS", default=False)
GALLERY_METRICS_TOKEN = env.str("GALLERY_METRICS_TOKEN", default="")
GALLERY_METRICS_ALLOW = env.list("GALLERY_METRICS_ALLOW", default=[])
try:
    import ipaddress as _ipaddress

    for _net in GALLERY_METRICS_ALLOW:
        _ipaddress.ip_network(_net)
except ValueError as _exc:
    raise ImproperlyConfigured(f"GALLERY_METRICS_ALLOW: {_exc}") from None
if GALLERY_METRICS and not (GALLERY_METRICS_TOKEN or GALLERY_METRICS_ALLOW):
    raise ImproperlyConfigured(
        "GALLERY_METRICS is on: set GALLERY_METRICS_TOKEN or GALLERY_METRICS_ALLOW too."
    )
# Error reports to Sentry (the `sentry` extra) when a DSN is set (config/sentry.py). Prompts
# stay out of the reports unless this is on; tokens and cookies always do.
SENTRY_DSN = env.str("SENTRY_DSN", default="")
GALLERY_SENTRY_SEND_PROMPTS = env.bool("GALLERY_SENTRY_SEND_PROMPTS", default=False)
GALLERY_SENTRY_TRACES_RATE = env.float("GALLERY_SENTRY_TRACES_RATE", default=0.0)
if SENTRY_DSN:
    from config import sentry as _sentry

    _sentry.init(
        SENTRY_DSN,
        send_prompts=GALLERY_SENTRY_SEND_PROMPTS,
        traces_rate=GALLERY_SENTRY_TRACES_RATE,
    )
