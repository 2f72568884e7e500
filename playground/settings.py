"""Settings, all from the environment (README.md, "Configuration", lists every variable).

Defaults run offline on one machine: SQLite, the in-memory channel layer and
the built-in emulator. With debug off, the settings that must not keep their
local defaults are checked at start-up and refused loudly.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import re
import secrets
import shutil
from pathlib import Path
from typing import Literal, TypeVar, get_args

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from pydantic import ValidationError
from pydantic_core import ErrorDetails
from pydantic_settings import BaseSettings, SettingsConfigDict

BASE_DIR = Path(__file__).resolve().parent.parent


class _Env(BaseSettings):
    """The environment, typed: each field is read from the variable of the same name."""

    # Case-sensitive: only the exact name is read, as with os.environ. Set but empty counts as unset,
    # so docker/compose.yaml's `YC_API_KEY: ${YC_API_KEY:-}` means no key and `PLAYGROUND_DEBUG=` means on.
    model_config = SettingsConfigDict(case_sensitive=True, env_ignore_empty=True)

    PLAYGROUND_VAR_DIR: Path = BASE_DIR / "var"
    PLAYGROUND_TEST_DB: str = ""  # default: test.sqlite3 in PLAYGROUND_VAR_DIR
    PLAYGROUND_DEBUG: bool = True
    PLAYGROUND_SECRET_KEY: str = ""
    PLAYGROUND_ALLOWED_HOSTS: str = ""  # comma-separated, as the next
    PLAYGROUND_CSRF_TRUSTED_ORIGINS: str = ""
    PLAYGROUND_DATABASE_URL: str = ""
    PLAYGROUND_REDIS_URL: str = ""
    PLAYGROUND_CHANNEL_LAYER: Literal["redis", "pubsub"] = "pubsub"
    YC_API_KEY: str = ""
    YC_IAM_TOKEN: str = ""
    YC_FOLDER_ID: str = ""
    PLAYGROUND_YANDEX_URL: str = "wss://ai.api.cloud.yandex.net/v1/realtime"
    PLAYGROUND_YANDEX_MODEL: str = "speech-realtime-250923"
    PLAYGROUND_EMULATOR_URL: str = ""
    PLAYGROUND_EMULATOR_PACE: float = 0.0
    PLAYGROUND_EMULATOR_LIFETIME: float = 300.0
    PLAYGROUND_UPSTREAM_STALL_S: float = 30.0
    PLAYGROUND_MAX_LIVE_SESSIONS: int = 10
    PLAYGROUND_WATCHER_QUEUE_BYTES: int = 8 * 1024 * 1024
    PLAYGROUND_SESSIONS_PER_MINUTE: int = 30
    PLAYGROUND_LIVE_SESSIONS_PER_USER: int = 5
    PLAYGROUND_LOGIN_FAILURES: int = 5
    PLAYGROUND_LOGIN_LOCKOUT_MINUTES: int = 5
    PLAYGROUND_SIGNUPS_PER_HOUR: int = 10
    PLAYGROUND_RETENTION_DAYS: int = 0
    PLAYGROUND_TRIM_BASE64_TO: int = 64
    PLAYGROUND_PRICES: str = ""  # a JSON object, checked below against the placeholder keys
    PLAYGROUND_VOICE_MAP: str = ""  # a JSON object of voice names, checked below
    PLAYGROUND_METRICS_TOKEN: str = ""
    PLAYGROUND_METRICS_DIR: Path | None = None  # default: metrics/ in PLAYGROUND_VAR_DIR
    PLAYGROUND_JUDGE_URL: str = "https://llm.api.cloud.yandex.net/v1"
    PLAYGROUND_JUDGE_MODEL: str = "yandexgpt/latest"
    PLAYGROUND_SPEECHKIT_TTS_URL: str = "https://tts.api.cloud.yandex.net/speech/v1/tts:synthesize"
    PLAYGROUND_MEDIA_DIR: Path | None = None  # default: media/ in PLAYGROUND_VAR_DIR
    PLAYGROUND_MEDIA_BUCKET: str = ""  # set: recordings' media in this S3 bucket instead (the next five with it)
    PLAYGROUND_MEDIA_ENDPOINT_URL: str = ""
    PLAYGROUND_MEDIA_REGION: str = ""
    PLAYGROUND_MEDIA_ACCESS_KEY_ID: str = ""
    PLAYGROUND_MEDIA_SECRET_ACCESS_KEY: str = ""
    PLAYGROUND_MEDIA_PREFIX: str = "recordings"


class _DeployEnv(BaseSettings):
    """Read only with debug off, where they apply: a stray value on a laptop (`make run`) stops nothing."""

    model_config = _Env.model_config

    # None: unset, each then follows the other (see SESSION_COOKIE_SECURE below).
    PLAYGROUND_HTTPS: bool | None = None
    PLAYGROUND_SECURE_COOKIES: bool | None = None
    PLAYGROUND_HSTS_SECONDS: int = 31_536_000
    PLAYGROUND_BEHIND_PROXY: bool = False


_E = TypeVar("_E", bound=BaseSettings)


def _read(source: type[_E]) -> _E:
    """All the variables of `source`; every bad one is named in one error, with what it must be."""
    try:
        return source()
    except ValidationError as exc:
        raise ImproperlyConfigured("\n".join(_problem(source, e) for e in exc.errors())) from None


def _problem(source: type[BaseSettings], error: ErrorDetails) -> str:
    name, value = str(error["loc"][0]), error["input"]
    if error["type"] == "literal_error":
        return f"{name} is {value!r}: use {' or '.join(get_args(source.model_fields[name].annotation))}."
    expected = {"bool_parsing": "true or false", "int_parsing": "a whole number", "float_parsing": "a number"}
    if error["type"] in expected:
        return f"{name} must be {expected[error['type']]}, not {value!r}"
    return f"{name} is {value!r}: {error['msg']}"


def _comma_list(value: str) -> list[str]:
    return [item.strip() for item in value.split(",") if item.strip()]


_env = _read(_Env)
VAR_DIR = _env.PLAYGROUND_VAR_DIR
DEBUG = _env.PLAYGROUND_DEBUG


def _secret_key() -> str:
    if _env.PLAYGROUND_SECRET_KEY:
        return _env.PLAYGROUND_SECRET_KEY
    if not DEBUG:
        raise ImproperlyConfigured("PLAYGROUND_SECRET_KEY is required when PLAYGROUND_DEBUG is off.")
    # Local use: a key generated once and kept beside the database, so logins survive restarts.
    path = VAR_DIR / "secret_key"
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        VAR_DIR.mkdir(parents=True, exist_ok=True)
        key = secrets.token_urlsafe(50)
        path.write_text(key)
        path.chmod(0o600)
        return key


SECRET_KEY = _secret_key()

if _env.PLAYGROUND_ALLOWED_HOSTS:
    ALLOWED_HOSTS = _comma_list(_env.PLAYGROUND_ALLOWED_HOSTS)
elif DEBUG:
    ALLOWED_HOSTS = ["127.0.0.1", "localhost", "[::1]", "testserver"]
else:
    raise ImproperlyConfigured("PLAYGROUND_ALLOWED_HOSTS is required when PLAYGROUND_DEBUG is off.")

CSRF_TRUSTED_ORIGINS = _comma_list(_env.PLAYGROUND_CSRF_TRUSTED_ORIGINS)

INSTALLED_APPS = [
    # First, so /api/docs serves Swagger UI from the playground's own static files (no CDN, no inline
    # script: the Content-Security-Policy below allows neither).
    "ninja",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "channels",
    # Its system checks for the static files middleware (and no startup warning that they are off).
    "servestatic",
    "playground.accounts",
    "playground.realtime",
    "playground.presets",
    "playground.recordings",
    "playground.teams",
    "playground.checks",
    "playground.usage",
    "playground.media",
]

# Django's stock middleware, subclassed to run in the event loop where they do no I/O
# (playground/middleware.py): under ASGI each would otherwise cost two thread hops.
MIDDLEWARE = [
    # Requests counted and timed (django-prometheus) around everything else.
    "playground.middleware.LoopPrometheusBeforeMiddleware",
    "playground.middleware.LoopSecurityMiddleware",
    "playground.middleware.LoopCSPMiddleware",
    # Static files from the app server itself (uvicorn serves none of its own), async-native.
    "servestatic.middleware.ServeStaticMiddleware",
    "playground.middleware.LoopSessionMiddleware",
    "playground.middleware.LoopCommonMiddleware",
    "playground.middleware.LoopCsrfViewMiddleware",
    "playground.middleware.LoopAuthenticationMiddleware",
    "playground.middleware.LoopMessageMiddleware",
    "playground.middleware.LoopXFrameOptionsMiddleware",
    "playground.middleware.LoopPrometheusAfterMiddleware",
]

ROOT_URLCONF = "playground.urls"
ASGI_APPLICATION = "playground.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

if _env.PLAYGROUND_DATABASE_URL:
    DATABASES = {"default": dj_database_url.parse(_env.PLAYGROUND_DATABASE_URL, conn_max_age=60)}
else:
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": str(VAR_DIR / "playground.sqlite3"),
            # The relay records from its own thread while requests read: WAL lets
            # readers and the one writer proceed together; waits beat "database is locked".
            "OPTIONS": {
                "timeout": 20,
                "transaction_mode": "IMMEDIATE",
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            },
            # A file, not ":memory:": the relay's threads must see the test data. Several
            # test runs at once (one per checkout or per person) each name their own.
            "TEST": {"NAME": _env.PLAYGROUND_TEST_DB or str(VAR_DIR / "test.sqlite3")},
            # Kept open by the threads that use it (playground/db.py, the recorder).
            "CONN_MAX_AGE": None,
        }
    }
# Queries counted and timed for /metrics: django-prometheus' wrappers of the same backends (vendor unchanged).
_COUNTED_ENGINES = {
    "django.db.backends.sqlite3": "django_prometheus.db.backends.sqlite3",
    "django.db.backends.postgresql": "django_prometheus.db.backends.postgresql",
}
DATABASES["default"]["ENGINE"] = _COUNTED_ENGINES.get(DATABASES["default"]["ENGINE"], DATABASES["default"]["ENGINE"])

_redis_url = _env.PLAYGROUND_REDIS_URL
PLAYGROUND_REDIS_URL = _redis_url  # /readyz pings it
# With Redis: `pubsub` (RedisPubSubChannelLayer: messages are published, never queued, so none is
# dropped at a capacity) or `redis` (RedisChannelLayer: per-channel lists). docs/benchmarks.md compares them.
PLAYGROUND_CHANNEL_LAYER = _env.PLAYGROUND_CHANNEL_LAYER
if _redis_url and PLAYGROUND_CHANNEL_LAYER == "pubsub":
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "playground.realtime.runtime.pubsub_layer.BatchingPubSubChannelLayer",
            "CONFIG": {"hosts": [{"address": _redis_url, "socket_timeout": None}]},
        }
    }
elif _redis_url:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {
                # Unless told otherwise, redis-py's pool stops at 100 connections and its 5 s
                # socket timeout equals the layer's blocking read.
                "hosts": [{"address": _redis_url, "max_connections": 1000, "socket_timeout": None}],
                "capacity": 10_000,
                "expiry": 60,
            },
        }
    }
else:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "playground.realtime.runtime.layers.FastInMemoryChannelLayer",
            # The default capacity (100) drops group messages silently; the recording
            # stays the truth either way, but a big queue avoids needless refetches.
            "CONFIG": {"capacity": 10_000, "expiry": 60},
        }
    }

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = BASE_DIR / "staticfiles"
# In debug, served straight from static/ (no collectstatic needed). No autorefresh: it
# would look for a file on disk (in a thread) on every request.
SERVESTATIC_USE_FINDERS = DEBUG
SERVESTATIC_AUTOREFRESH = False
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
# An audio append may carry 15 MiB of PCM: 20 MiB as base64, plus the envelope.
DATA_UPLOAD_MAX_MEMORY_SIZE = 21 * 1024 * 1024

# --- Media: recordings' audio (FLAC files) -------------------------------------------------------------
# Django's storage API, alias `recordings` (django.core.files.storage.storages["recordings"]): files under
# PLAYGROUND_MEDIA_DIR (default var/media/), or with PLAYGROUND_MEDIA_BUCKET an S3-compatible bucket (Yandex
# Object Storage, MinIO, AWS) through django-storages. Private either way: the playground's API serves them
# to those allowed to see the recording, never a URL to the file (docs/operations.md, "Media storage").
# The secret access key is never sent to a browser, a response or a log: it lives only in STORAGES, whose
# `secret_key` (and `access_key`) Django's error reports hide as they hide every setting named like a key.
_S3_VARIABLES = ("ENDPOINT_URL", "REGION", "ACCESS_KEY_ID", "SECRET_ACCESS_KEY")


def _recordings_storage(env: _Env) -> dict[str, object]:
    """STORAGES["recordings"] for these variables (tests/services/test_media_s3.py runs it against S3)."""
    bucket = env.PLAYGROUND_MEDIA_BUCKET
    if not bucket:
        stray = [f"PLAYGROUND_MEDIA_{n}" for n in _S3_VARIABLES if getattr(env, f"PLAYGROUND_MEDIA_{n}")]
        if stray:
            need = "needs" if len(stray) == 1 else "need"
            raise ImproperlyConfigured(
                f"{', '.join(stray)} {need} PLAYGROUND_MEDIA_BUCKET (unset: recordings' media are files in "
                "PLAYGROUND_MEDIA_DIR)."
            )
        location = env.PLAYGROUND_MEDIA_DIR or env.PLAYGROUND_VAR_DIR / "media"
        # allow_overwrite: saving under a name that exists replaces the file, as on S3 (file_overwrite below).
        options = {"location": str(location), "allow_overwrite": True}
        return {"BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": options}
    if env.PLAYGROUND_MEDIA_DIR:
        raise ImproperlyConfigured("PLAYGROUND_MEDIA_DIR and PLAYGROUND_MEDIA_BUCKET exclude each other: set one.")
    if not re.fullmatch(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]", bucket):
        raise ImproperlyConfigured(
            f"PLAYGROUND_MEDIA_BUCKET is {bucket!r}: a bucket name is 3 to 63 lowercase letters, digits, dots and "
            "hyphens."
        )
    endpoint = env.PLAYGROUND_MEDIA_ENDPOINT_URL
    if endpoint and not re.match(r"https?://[^/\s]", endpoint):
        raise ImproperlyConfigured(
            "PLAYGROUND_MEDIA_ENDPOINT_URL must be an http:// or https:// URL "
            f"(e.g. https://storage.yandexcloud.net), not {endpoint!r}"
        )
    key_id, secret = env.PLAYGROUND_MEDIA_ACCESS_KEY_ID, env.PLAYGROUND_MEDIA_SECRET_ACCESS_KEY
    if bool(key_id) != bool(secret):
        missing = "PLAYGROUND_MEDIA_SECRET_ACCESS_KEY" if key_id else "PLAYGROUND_MEDIA_ACCESS_KEY_ID"
        raise ImproperlyConfigured(
            f"{missing} is missing: set PLAYGROUND_MEDIA_ACCESS_KEY_ID and PLAYGROUND_MEDIA_SECRET_ACCESS_KEY "
            "together, or neither (boto3's own credentials: AWS_* variables, ~/.aws, the instance's role)."
        )
    s3: dict[str, object] = {
        "bucket_name": bucket,
        "location": env.PLAYGROUND_MEDIA_PREFIX.strip("/"),  # "/": the bucket's root
        "endpoint_url": endpoint or None,  # None: AWS
        "region_name": env.PLAYGROUND_MEDIA_REGION or None,
        # No ACL sent: objects are as private as the bucket (an x-amz-acl header, even "private", fails on
        # AWS buckets with ACLs disabled, their default). No signed URLs: files are read only through the
        # playground, never linked to.
        "default_acl": None,
        "querystring_auth": False,
        # Saving under a name that exists replaces the object (no "_x7Kq2" suffixed copies).
        "file_overwrite": True,
    }
    if key_id:
        s3 |= {"access_key": key_id, "secret_key": secret}
    return {"BACKEND": "storages.backends.s3.S3Storage", "OPTIONS": s3}


STORAGES = {
    # Django's own two, as they are without STORAGES (nothing uploads to `default`).
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    "recordings": _recordings_storage(_env),
}

# --- Deployment (debug off): HTTPS, cookies, headers; `manage.py check --deploy` is clean with these --------
# The stock security, CSRF and clickjacking middleware run as their Loop* subclasses (playground/middleware.py),
# which Django's checks look for by their dotted names only: W001-W003 are false alarms here.
SILENCED_SYSTEM_CHECKS = ["security.W001", "security.W002", "security.W003"]
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
if not DEBUG:
    # PLAYGROUND_HTTPS: served over HTTPS (directly or behind a TLS proxy). Default: on, unless
    # PLAYGROUND_SECURE_COOKIES=0 says the deployment is plain HTTP (docker/compose.yaml on localhost).
    _deploy = _read(_DeployEnv)
    _https, _cookies = _deploy.PLAYGROUND_HTTPS, _deploy.PLAYGROUND_SECURE_COOKIES
    PLAYGROUND_HTTPS = _https if _https is not None else _cookies is not False
    SESSION_COOKIE_SECURE = _cookies if _cookies is not None else PLAYGROUND_HTTPS
    CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
    SESSION_COOKIE_HTTPONLY = True
    if PLAYGROUND_HTTPS:
        SECURE_SSL_REDIRECT = True
        # HSTS: browsers refuse plain HTTP to this host for that long; 0 turns it off (start small when trying).
        SECURE_HSTS_SECONDS = _deploy.PLAYGROUND_HSTS_SECONDS
        SECURE_HSTS_INCLUDE_SUBDOMAINS = SECURE_HSTS_SECONDS > 0
        SECURE_HSTS_PRELOAD = SECURE_HSTS_SECONDS > 0
    # Behind a TLS-terminating proxy that sets X-Forwarded-Proto (and strips the client's own): trust it, so
    # requests it forwarded as https count as secure (no redirect loop). Never on without such a proxy.
    if _deploy.PLAYGROUND_BEHIND_PROXY:
        SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# --- Upstreams -------------------------------------------------------------
# Same names as Yandex's own SDK. Never sent to a browser, a response or a log.
YC_API_KEY = _env.YC_API_KEY
YC_IAM_TOKEN = _env.YC_IAM_TOKEN
YC_FOLDER_ID = _env.YC_FOLDER_ID
PLAYGROUND_YANDEX_URL = _env.PLAYGROUND_YANDEX_URL
PLAYGROUND_YANDEX_MODEL = _env.PLAYGROUND_YANDEX_MODEL
# An emulator elsewhere (e.g. `make emulator`, `python -m emulator`); unset: one runs in-process.
PLAYGROUND_EMULATOR_URL = _env.PLAYGROUND_EMULATOR_URL
PLAYGROUND_EMULATOR_PACE = _env.PLAYGROUND_EMULATOR_PACE
PLAYGROUND_EMULATOR_LIFETIME = _env.PLAYGROUND_EMULATOR_LIFETIME
PLAYGROUND_UPSTREAM_STALL_S = _env.PLAYGROUND_UPSTREAM_STALL_S  # relay.py _watch_stall

PLAYGROUND_MAX_LIVE_SESSIONS = _env.PLAYGROUND_MAX_LIVE_SESSIONS
# Bytes a watcher socket may fall behind by before it is closed (4008) and told to resume with ?after.
PLAYGROUND_WATCHER_QUEUE_BYTES = _env.PLAYGROUND_WATCHER_QUEUE_BYTES

# --- Abuse limits (playground/limits.py, playground/accounts/throttle.py); 0 turns one off -------------
# Per user, counted in the database (every worker sees the same): sessions opened per minute, live at once.
PLAYGROUND_SESSIONS_PER_MINUTE = _env.PLAYGROUND_SESSIONS_PER_MINUTE
PLAYGROUND_LIVE_SESSIONS_PER_USER = _env.PLAYGROUND_LIVE_SESSIONS_PER_USER
# Failed sign-ins per username and per client IP within the lock-out window, then refused until it passes.
PLAYGROUND_LOGIN_FAILURES = _env.PLAYGROUND_LOGIN_FAILURES
PLAYGROUND_LOGIN_LOCKOUT_MINUTES = _env.PLAYGROUND_LOGIN_LOCKOUT_MINUTES
PLAYGROUND_SIGNUPS_PER_HOUR = _env.PLAYGROUND_SIGNUPS_PER_HOUR
# The login and sign-up counters live in Django's cache: per process by default (one worker);
# with PLAYGROUND_REDIS_URL set, in Redis, shared by every worker and machine.
if _redis_url:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": _redis_url,
            "KEY_PREFIX": "playground",
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "playground"}}
# Recordings (events, audio and all) older than this many days are deleted; 0 keeps them forever.
PLAYGROUND_RETENTION_DAYS = _env.PLAYGROUND_RETENTION_DAYS
# Live frames and the events list can shorten base64 audio to this many characters
# when a client asks for it (?trim=1); the recording always keeps it whole.
PLAYGROUND_TRIM_BASE64_TO = _env.PLAYGROUND_TRIM_BASE64_TO

# The console's cost estimate. Placeholders, not Yandex's tariff: set PLAYGROUND_PRICES to a JSON
# object with any of these keys to match your contract.
PLAYGROUND_PRICES: dict[str, object] = {
    "currency": "₽",
    "textInputPer1kTokens": 0.2,
    "textOutputPer1kTokens": 0.4,
    "audioInputPerSecond": 0.02,
    "audioOutputPerSecond": 0.04,
}
if _env.PLAYGROUND_PRICES:
    try:
        _prices = json.loads(_env.PLAYGROUND_PRICES)
    except ValueError as exc:
        raise ImproperlyConfigured(f"PLAYGROUND_PRICES must be a JSON object: {exc}") from None
    if not isinstance(_prices, dict) or set(_prices) - set(PLAYGROUND_PRICES):
        raise ImproperlyConfigured(f"PLAYGROUND_PRICES may only set: {', '.join(PLAYGROUND_PRICES)}")
    PLAYGROUND_PRICES.update(_prices)

# `/v1/realtime`: OpenAI voice names (or any) → Yandex voices, merged over the default table
# (playground/realtime/dialect/voices.py; docs/openai-compat.md, "Voices").
PLAYGROUND_VOICE_MAP: dict[str, str] = {}
if _env.PLAYGROUND_VOICE_MAP:
    _voice_example = 'e.g. {"alloy": "marina", "ash": "filipp"}'
    try:
        _voices = json.loads(_env.PLAYGROUND_VOICE_MAP)
    except ValueError as exc:
        raise ImproperlyConfigured(f"PLAYGROUND_VOICE_MAP must be a JSON object ({_voice_example}): {exc}") from None
    if not isinstance(_voices, dict) or not all(isinstance(v, str) and v.strip() for v in _voices.values()):
        raise ImproperlyConfigured(
            f"PLAYGROUND_VOICE_MAP must be a JSON object of voice names to Yandex voice names ({_voice_example})."
        )
    PLAYGROUND_VOICE_MAP = {str(k): v.strip() for k, v in _voices.items()}
# --- Preset checks (playground/checks/, docs/checks.md) -------------------------------------------------------
# The judge: a Yandex text model through its OpenAI-compatible chat API (`<URL>/chat/completions`); the model
# name or full gpt:// URI. Used only with the Yandex credentials above; without them a judge is "not run".
PLAYGROUND_JUDGE_URL = _env.PLAYGROUND_JUDGE_URL.rstrip("/")
PLAYGROUND_JUDGE_MODEL = _env.PLAYGROUND_JUDGE_MODEL
# SpeechKit's synthesis (API v1), for checks' spoken turns when they run against Yandex.
PLAYGROUND_SPEECHKIT_TTS_URL = _env.PLAYGROUND_SPEECHKIT_TTS_URL

if not DEBUG and (YC_API_KEY or YC_IAM_TOKEN) and not YC_FOLDER_ID:
    raise ImproperlyConfigured("YC_FOLDER_ID is required with YC_API_KEY or YC_IAM_TOKEN.")

# --- Operations: /healthz, /readyz, /metrics (playground/ops.py, playground/metrics.py) ------------------
# /metrics answers loopback without a token; from anywhere else only with `Authorization: Bearer <this>`.
PLAYGROUND_METRICS_TOKEN = _env.PLAYGROUND_METRICS_TOKEN


def _metrics_dir() -> Path:
    """Where this process keeps its figures for prometheus-client's multiprocess mode.

    One directory per server: the worker processes of one `uvicorn --workers N` (`make serve`) share
    their supervisor's (their parent's pid), so a scrape on any of them reads all their files; a
    lone process (`make run`, each test server) has its own. Directories of servers no longer running
    are removed here, so each server starts its counters from zero."""
    root = _env.PLAYGROUND_METRICS_DIR or VAR_DIR / "metrics"
    parent = multiprocessing.parent_process()
    server = parent.pid if parent is not None and parent.pid is not None else os.getpid()
    root.mkdir(parents=True, exist_ok=True)
    for old in root.iterdir():
        if old.name.isdigit() and int(old.name) != server and not _alive(int(old.name)):
            shutil.rmtree(old, ignore_errors=True)
    path = root / str(server)
    path.mkdir(exist_ok=True)
    return path


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


PLAYGROUND_METRICS_DIR = _metrics_dir()
# prometheus-client reads it when first imported (this module runs before anything imports it): set, not
# defaulted, so a server started from a process that had its own (a test) never writes into that one's.
os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(PLAYGROUND_METRICS_DIR)

# --- Content-Security-Policy (django-csp; docs/security.md) ------------------------------------------------
# Every page's scripts are files of the playground's own (native ES modules, theme.js), its data comes as
# json_script (data, never run), and it connects only to itself (REST, its WebSockets): nothing else is
# allowed, so no text of a recording (shared replay pages are public) can ever run as script.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "worker-src": ["'self'"],
        "connect-src": ["'self'"],
        # Swagger UI's (/api/docs) and the admin's icons are data: URLs; exports download through blob: URLs.
        "img-src": ["'self'", "data:"],
        "media-src": ["'self'", "blob:"],
        "font-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": "INFO"},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        # At DEBUG, websockets logs handshake headers: Authorization would be among them.
        "websockets.client": {"level": "INFO"},
    },
}
