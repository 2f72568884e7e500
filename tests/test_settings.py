"""Settings come from the environment; with debug off, missing essentials stop the start."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent

PRINT_BACKENDS = """
import django
django.setup()
from django.conf import settings
print(settings.DATABASES["default"]["ENGINE"], settings.CHANNEL_LAYERS["default"]["BACKEND"])
"""


def start(env: dict[str, str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("PLAYGROUND_", "YC_"))}
    return subprocess.run(
        [sys.executable, "-c", PRINT_BACKENDS],
        cwd=ROOT,
        env={**clean, "DJANGO_SETTINGS_MODULE": "playground.settings", "PLAYGROUND_VAR_DIR": str(tmp_path), **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_defaults_are_sqlite_and_in_memory_layer(tmp_path: Path) -> None:
    res = start({}, tmp_path)
    assert res.returncode == 0, res.stderr
    # django-prometheus' wrapper of Django's backend (its queries counted for /metrics), nothing else changed.
    assert res.stdout.split() == [
        "django_prometheus.db.backends.sqlite3",
        "playground.realtime.runtime.layers.FastInMemoryChannelLayer",
    ]
    assert (tmp_path / "secret_key").exists()


def test_urls_switch_to_postgresql_and_redis(tmp_path: Path) -> None:
    res = start(
        {"PLAYGROUND_DATABASE_URL": "postgres://u@db:5432/x", "PLAYGROUND_REDIS_URL": "redis://r:6379/0"}, tmp_path
    )
    assert res.returncode == 0, res.stderr
    # Pub/sub by default: docs/benchmarks.md measured RedisChannelLayer falling behind from ~25 sessions.
    assert res.stdout.split() == [
        "django_prometheus.db.backends.postgresql",
        "playground.realtime.runtime.pubsub_layer.BatchingPubSubChannelLayer",
    ]
    env = {"PLAYGROUND_DATABASE_URL": "postgres://u@db:5432/x", "PLAYGROUND_REDIS_URL": "redis://r:6379/0"}
    res = start({**env, "PLAYGROUND_CHANNEL_LAYER": "redis"}, tmp_path)
    assert res.stdout.split() == ["django_prometheus.db.backends.postgresql", "channels_redis.core.RedisChannelLayer"]
    res = start({**env, "PLAYGROUND_CHANNEL_LAYER": "rabbit"}, tmp_path)
    assert res.returncode != 0 and "PLAYGROUND_CHANNEL_LAYER is 'rabbit': use redis or pubsub." in res.stderr


def test_debug_off_requires_secret_key_and_hosts(tmp_path: Path) -> None:
    res = start({"PLAYGROUND_DEBUG": "0"}, tmp_path)
    assert res.returncode != 0
    assert "PLAYGROUND_SECRET_KEY is required" in res.stderr
    res = start({"PLAYGROUND_DEBUG": "0", "PLAYGROUND_SECRET_KEY": "x" * 50}, tmp_path)
    assert "PLAYGROUND_ALLOWED_HOSTS is required" in res.stderr
    res = start(
        {
            "PLAYGROUND_DEBUG": "0",
            "PLAYGROUND_SECRET_KEY": "x" * 50,
            "PLAYGROUND_ALLOWED_HOSTS": "a.example",
            "YC_API_KEY": "k",
        },
        tmp_path,
    )
    assert "YC_FOLDER_ID is required" in res.stderr


def test_bad_values_name_the_variable(tmp_path: Path) -> None:
    res = start({"PLAYGROUND_MAX_LIVE_SESSIONS": "ten"}, tmp_path)
    assert "PLAYGROUND_MAX_LIVE_SESSIONS must be a whole number, not 'ten'" in res.stderr
    res = start({"PLAYGROUND_DEBUG": "maybe"}, tmp_path)
    assert "PLAYGROUND_DEBUG must be true or false" in res.stderr


def test_a_bad_voice_map_is_named_with_what_it_must_be(tmp_path: Path) -> None:
    for bad in ("{not json", '["alloy", "marina"]', '{"alloy": 3}', '{"alloy": " "}'):
        res = start({"PLAYGROUND_VOICE_MAP": bad}, tmp_path)
        assert res.returncode != 0, bad
        assert "PLAYGROUND_VOICE_MAP must be a JSON object" in res.stderr and '{"alloy": "marina"' in res.stderr


def test_prices_come_from_the_environment_and_bad_keys_are_named(tmp_path: Path) -> None:
    res = start({"PLAYGROUND_PRICES": '{"textOutputPer1kTokens": 1.5, "cheap": 1}'}, tmp_path)
    assert "PLAYGROUND_PRICES may only set" in res.stderr
    res = start({"PLAYGROUND_PRICES": "{not json"}, tmp_path)
    assert "PLAYGROUND_PRICES must be a JSON object" in res.stderr


PRODUCTION = {
    "PLAYGROUND_DEBUG": "0",
    "PLAYGROUND_SECRET_KEY": "k3Q9-production-secret-key-for-the-deploy-check-7Zp2xW8vLr5Tn1Yb4Hs6",
    "PLAYGROUND_ALLOWED_HOSTS": "playground.example",
    "PLAYGROUND_BEHIND_PROXY": "1",
}

# Django's deploy checks for HSTS, the SSL redirect and the CSRF cookie run only when they find the stock
# middleware by name; ours are subclasses (playground/middleware.py). Run them as if found, so silencing
# W001-W003 hides nothing.
SECURITY_CHECKS_AS_IF_FOUND = """
import django
django.setup()
from django.conf import settings
from django.core.checks.security import base, csrf
from django.middleware.clickjacking import XFrameOptionsMiddleware
from django.middleware.csrf import CsrfViewMiddleware
from django.middleware.security import SecurityMiddleware
from django.utils.module_loading import import_string

stock = {SecurityMiddleware, CsrfViewMiddleware, XFrameOptionsMiddleware}
found = {cls for cls in stock for path in settings.MIDDLEWARE if issubclass(import_string(path), cls)}
assert found == stock, found
base._security_middleware = lambda: True
base._xframe_middleware = lambda: True
csrf._csrf_middleware = lambda: True
issues = [
    *base.check_sts(None), *base.check_sts_include_subdomains(None), *base.check_sts_preload(None),
    *base.check_content_type_nosniff(None), *base.check_ssl_redirect(None), *base.check_xframe_options_middleware(None),
    *base.check_xframe_deny(None), *base.check_referrer_policy(None), *base.check_cross_origin_opener_policy(None),
    *csrf.check_csrf_cookie_secure(None),
]
print("ISSUES", [i.id for i in issues])
print("PROXY", settings.SECURE_PROXY_SSL_HEADER)
"""


def run(args: list[str], env: dict[str, str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("PLAYGROUND_", "YC_"))}
    return subprocess.run(
        [sys.executable, *args],
        cwd=ROOT,
        env={**clean, "DJANGO_SETTINGS_MODULE": "playground.settings", "PLAYGROUND_VAR_DIR": str(tmp_path), **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_check_deploy_is_clean_with_production_settings(tmp_path: Path) -> None:
    res = run(["manage.py", "check", "--deploy", "--fail-level", "WARNING"], PRODUCTION, tmp_path)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "no issues" in res.stdout
    # And the checks Django skips for our middleware subclasses pass too.
    res = run(["-c", SECURITY_CHECKS_AS_IF_FOUND], PRODUCTION, tmp_path)
    assert res.returncode == 0, res.stderr
    assert "ISSUES []" in res.stdout, res.stdout
    assert "PROXY ('HTTP_X_FORWARDED_PROTO', 'https')" in res.stdout
    # Without the proxy variable nothing trusts X-Forwarded-Proto.
    res = run(["-c", SECURITY_CHECKS_AS_IF_FOUND], {**PRODUCTION, "PLAYGROUND_BEHIND_PROXY": ""}, tmp_path)
    assert "PROXY None" in res.stdout, res.stdout + res.stderr


def test_production_over_plain_http_says_so_and_local_debug_stays_plain(tmp_path: Path) -> None:
    # docker/compose.yaml on localhost: PLAYGROUND_SECURE_COOKIES=0 means plain HTTP, so no redirect to HTTPS.
    res = run(["-c", SECURITY_CHECKS_AS_IF_FOUND], {**PRODUCTION, "PLAYGROUND_SECURE_COOKIES": "0"}, tmp_path)
    assert res.returncode == 0, res.stderr
    assert "security.W008" in res.stdout and "security.W004" in res.stdout
    # `make run`: debug on, no HTTPS redirect, no HSTS, cookies over plain HTTP.
    show = "import django; django.setup(); from django.conf import settings as s; "
    show += "print(s.SECURE_SSL_REDIRECT, s.SECURE_HSTS_SECONDS, s.SESSION_COOKIE_SECURE, s.SECURE_PROXY_SSL_HEADER)"
    res = run(["-c", show], {}, tmp_path)
    assert res.stdout.split() == ["False", "0", "False", "None"], res.stdout + res.stderr


SHOW_SETTINGS = """
import json, django
django.setup()
from django.conf import settings
print(json.dumps({name: getattr(settings, name, None) for name in NAMES}, default=str))
"""


def settings_under(env: dict[str, str], tmp_path: Path, names: list[str]) -> dict[str, Any]:
    res = run(["-c", SHOW_SETTINGS.replace("NAMES", repr(names))], env, tmp_path)
    assert res.returncode == 0, res.stderr
    return json.loads(res.stdout.splitlines()[-1])


# README.md's configuration table, default column (CSRF_TRUSTED_ORIGINS and TRIM_BASE64_TO: settings.py's).
DOCUMENTED_DEFAULTS: dict[str, Any] = {
    "DEBUG": True,
    "ALLOWED_HOSTS": ["127.0.0.1", "localhost", "[::1]", "testserver"],
    "CSRF_TRUSTED_ORIGINS": [],
    "PLAYGROUND_CHANNEL_LAYER": "pubsub",
    "YC_API_KEY": "",
    "YC_IAM_TOKEN": "",
    "YC_FOLDER_ID": "",
    "PLAYGROUND_YANDEX_URL": "wss://ai.api.cloud.yandex.net/v1/realtime",
    "PLAYGROUND_YANDEX_MODEL": "speech-realtime-250923",
    "PLAYGROUND_EMULATOR_URL": "",
    "PLAYGROUND_EMULATOR_PACE": 0.0,
    "PLAYGROUND_EMULATOR_LIFETIME": 300.0,
    "PLAYGROUND_UPSTREAM_STALL_S": 30.0,
    "PLAYGROUND_MAX_LIVE_SESSIONS": 10,
    "PLAYGROUND_WATCHER_QUEUE_BYTES": 8 * 1024 * 1024,
    "PLAYGROUND_SESSIONS_PER_MINUTE": 30,
    "PLAYGROUND_LIVE_SESSIONS_PER_USER": 5,
    "PLAYGROUND_LOGIN_FAILURES": 5,
    "PLAYGROUND_LOGIN_LOCKOUT_MINUTES": 5,
    "PLAYGROUND_SIGNUPS_PER_HOUR": 10,
    "PLAYGROUND_RETENTION_DAYS": 0,
    "PLAYGROUND_TRIM_BASE64_TO": 64,
    "PLAYGROUND_METRICS_TOKEN": "",
    "PLAYGROUND_PRICES": {
        "currency": "₽",
        "textInputPer1kTokens": 0.2,
        "textOutputPer1kTokens": 0.4,
        "audioInputPerSecond": 0.02,
        "audioOutputPerSecond": 0.04,
    },
    "PLAYGROUND_VOICE_MAP": {},  # nothing over the default table (playground/realtime/dialect/voices.py)
    "PLAYGROUND_JUDGE_URL": "https://llm.api.cloud.yandex.net/v1",
    "PLAYGROUND_JUDGE_MODEL": "yandexgpt/latest",
    "PLAYGROUND_SPEECHKIT_TTS_URL": "https://tts.api.cloud.yandex.net/speech/v1/tts:synthesize",
}


def test_unset_and_empty_variables_mean_the_documented_defaults(tmp_path: Path) -> None:
    # Set but empty, as docker/compose.yaml's `YC_API_KEY: ${YC_API_KEY:-}` leaves one, is the same as unset.
    names = [*DOCUMENTED_DEFAULTS, "PLAYGROUND_DEBUG", "PLAYGROUND_ALLOWED_HOSTS", "PLAYGROUND_CSRF_TRUSTED_ORIGINS"]
    names += ["PLAYGROUND_SECRET_KEY", "PLAYGROUND_DATABASE_URL", "PLAYGROUND_REDIS_URL", "PLAYGROUND_TEST_DB"]
    empty = {name: "" for name in names if name.startswith(("PLAYGROUND_", "YC_"))}
    for env in ({}, empty):
        got = settings_under(env, tmp_path, [*DOCUMENTED_DEFAULTS, "DATABASES", "VAR_DIR", "PLAYGROUND_METRICS_DIR"])
        assert got.pop("VAR_DIR") == str(tmp_path)
        # One directory per server under var/metrics (this process is a server of its own: its pid).
        assert Path(got.pop("PLAYGROUND_METRICS_DIR")).parent == tmp_path / "metrics"
        assert got.pop("DATABASES")["default"]["TEST"]["NAME"] == str(tmp_path / "test.sqlite3")
        assert got == DOCUMENTED_DEFAULTS, env


def test_every_variable_reaches_its_setting(tmp_path: Path) -> None:
    env = {
        "PLAYGROUND_DEBUG": "ON",
        "PLAYGROUND_SECRET_KEY": "s" * 50,
        "PLAYGROUND_ALLOWED_HOSTS": " a.example, b.example ,",
        "PLAYGROUND_CSRF_TRUSTED_ORIGINS": "https://a.example,https://b.example",
        "PLAYGROUND_TEST_DB": str(tmp_path / "mine.sqlite3"),
        "YC_API_KEY": "key",
        "YC_IAM_TOKEN": "token",
        "YC_FOLDER_ID": "b1g",
        "PLAYGROUND_YANDEX_URL": "ws://127.0.0.1:9/v1/realtime",
        "PLAYGROUND_YANDEX_MODEL": "gpt://b1g/other",
        "PLAYGROUND_EMULATOR_URL": "ws://127.0.0.1:8765",
        "PLAYGROUND_EMULATOR_PACE": "2.5",
        "PLAYGROUND_EMULATOR_LIFETIME": " 60 ",
        "PLAYGROUND_UPSTREAM_STALL_S": "1e1",
        "PLAYGROUND_MAX_LIVE_SESSIONS": "3",
        "PLAYGROUND_WATCHER_QUEUE_BYTES": "1_024",
        "PLAYGROUND_SESSIONS_PER_MINUTE": "0",
        "PLAYGROUND_LIVE_SESSIONS_PER_USER": "1",
        "PLAYGROUND_LOGIN_FAILURES": "7",
        "PLAYGROUND_LOGIN_LOCKOUT_MINUTES": "15",
        "PLAYGROUND_SIGNUPS_PER_HOUR": "20",
        "PLAYGROUND_RETENTION_DAYS": "30",
        "PLAYGROUND_TRIM_BASE64_TO": "-1",
        "PLAYGROUND_PRICES": '{"currency": "$", "audioInputPerSecond": 0.5}',
        "PLAYGROUND_VOICE_MAP": '{"alloy": " marina ", "newvoice": "newvoice"}',
        "PLAYGROUND_METRICS_TOKEN": "scrape-token",
        "PLAYGROUND_JUDGE_URL": "http://127.0.0.1:9/v1/",
        "PLAYGROUND_JUDGE_MODEL": "yandexgpt-lite/latest",
        "PLAYGROUND_SPEECHKIT_TTS_URL": "http://127.0.0.1:9/tts",
    }
    got = settings_under(env, tmp_path, [*DOCUMENTED_DEFAULTS, "SECRET_KEY", "DATABASES"])
    assert got.pop("DATABASES")["default"]["TEST"]["NAME"] == env["PLAYGROUND_TEST_DB"]
    assert got == {
        **{name: env[name] for name in DOCUMENTED_DEFAULTS if name in env},
        "DEBUG": True,
        "SECRET_KEY": "s" * 50,
        "ALLOWED_HOSTS": ["a.example", "b.example"],
        "CSRF_TRUSTED_ORIGINS": ["https://a.example", "https://b.example"],
        "PLAYGROUND_CHANNEL_LAYER": "pubsub",
        "PLAYGROUND_EMULATOR_PACE": 2.5,
        "PLAYGROUND_EMULATOR_LIFETIME": 60.0,
        "PLAYGROUND_UPSTREAM_STALL_S": 10.0,
        "PLAYGROUND_MAX_LIVE_SESSIONS": 3,
        "PLAYGROUND_WATCHER_QUEUE_BYTES": 1024,
        "PLAYGROUND_SESSIONS_PER_MINUTE": 0,
        "PLAYGROUND_LIVE_SESSIONS_PER_USER": 1,
        "PLAYGROUND_LOGIN_FAILURES": 7,
        "PLAYGROUND_LOGIN_LOCKOUT_MINUTES": 15,
        "PLAYGROUND_SIGNUPS_PER_HOUR": 20,
        "PLAYGROUND_RETENTION_DAYS": 30,
        "PLAYGROUND_TRIM_BASE64_TO": -1,
        "PLAYGROUND_PRICES": {**DOCUMENTED_DEFAULTS["PLAYGROUND_PRICES"], "currency": "$", "audioInputPerSecond": 0.5},
        "PLAYGROUND_VOICE_MAP": {"alloy": "marina", "newvoice": "newvoice"},
        "PLAYGROUND_JUDGE_URL": "http://127.0.0.1:9/v1",
    }


DEPLOY = ["PLAYGROUND_HTTPS", "SECURE_SSL_REDIRECT", "SESSION_COOKIE_SECURE", "CSRF_COOKIE_SECURE"]
DEPLOY += ["SECURE_HSTS_SECONDS", "SECURE_HSTS_PRELOAD", "SECURE_PROXY_SSL_HEADER"]


def test_https_and_secure_cookies_follow_each_other_unless_both_are_set(tmp_path: Path) -> None:
    production = {**PRODUCTION, "PLAYGROUND_DEBUG": "Off", "PLAYGROUND_BEHIND_PROXY": "no"}
    got = settings_under(production, tmp_path, DEPLOY)
    assert list(got.values()) == [True, True, True, True, 31_536_000, True, None]
    got = settings_under({**production, "PLAYGROUND_HTTPS": "FALSE", "PLAYGROUND_HSTS_SECONDS": "60"}, tmp_path, DEPLOY)
    assert list(got.values()) == [False, False, False, False, 0, False, None]
    env = {**production, "PLAYGROUND_HTTPS": "yes", "PLAYGROUND_SECURE_COOKIES": "off", "PLAYGROUND_HSTS_SECONDS": "0"}
    got = settings_under({**env, "PLAYGROUND_BEHIND_PROXY": "true"}, tmp_path, DEPLOY)
    assert list(got.values()) == [True, True, False, False, 0, False, ["HTTP_X_FORWARDED_PROTO", "https"]]


def test_every_bad_value_is_named_at_once(tmp_path: Path) -> None:
    bad = {
        "PLAYGROUND_EMULATOR_PACE": "fast",
        "PLAYGROUND_TRIM_BASE64_TO": "10.5",
        "PLAYGROUND_CHANNEL_LAYER": "Redis",
    }
    res = start(bad, tmp_path)
    assert res.returncode != 0
    assert "PLAYGROUND_EMULATOR_PACE must be a number, not 'fast'" in res.stderr
    assert "PLAYGROUND_TRIM_BASE64_TO must be a whole number, not '10.5'" in res.stderr
    assert "PLAYGROUND_CHANNEL_LAYER is 'Redis': use redis or pubsub." in res.stderr
    # The deployment switches are read, and checked, with debug off only, where they apply.
    deploy_bad = {"PLAYGROUND_HTTPS": "maybe", "PLAYGROUND_HSTS_SECONDS": "1y", "PLAYGROUND_BEHIND_PROXY": "2"}
    res = start(deploy_bad, tmp_path)
    assert res.returncode == 0, res.stderr
    res = start({**PRODUCTION, **deploy_bad}, tmp_path)
    assert res.returncode != 0
    assert "PLAYGROUND_HTTPS must be true or false, not 'maybe'" in res.stderr
    assert "PLAYGROUND_HSTS_SECONDS must be a whole number, not '1y'" in res.stderr
    assert "PLAYGROUND_BEHIND_PROXY must be true or false, not '2'" in res.stderr


MEDIA_SECRET = "yc-static-key-secret-Zx81Qw"
YANDEX_OBJECT_STORAGE = {
    "PLAYGROUND_MEDIA_BUCKET": "playground-media.example",
    "PLAYGROUND_MEDIA_ENDPOINT_URL": "https://storage.yandexcloud.net",
    "PLAYGROUND_MEDIA_REGION": "ru-central1",
    "PLAYGROUND_MEDIA_ACCESS_KEY_ID": "YCAJEexample",
    "PLAYGROUND_MEDIA_SECRET_ACCESS_KEY": MEDIA_SECRET,
}


def test_recordings_media_are_files_in_var_media_unless_a_bucket_is_set(tmp_path: Path) -> None:
    def recordings(env: dict[str, str]) -> dict[str, Any]:
        storages = settings_under(env, tmp_path, ["STORAGES"])["STORAGES"]
        assert set(storages) == {"default", "staticfiles", "recordings"}
        return dict(storages["recordings"])

    # `make run`: nothing to set, files under var/media/ (created on the first save).
    files = {"BACKEND": "django.core.files.storage.FileSystemStorage"}
    for env in ({}, {name: "" for name in [*YANDEX_OBJECT_STORAGE, "PLAYGROUND_MEDIA_DIR", "PLAYGROUND_MEDIA_PREFIX"]}):
        assert recordings(env) == {**files, "OPTIONS": {"location": str(tmp_path / "media"), "allow_overwrite": True}}
    assert recordings({"PLAYGROUND_MEDIA_DIR": "/srv/media"}) == {
        **files,
        "OPTIONS": {"location": "/srv/media", "allow_overwrite": True},
    }
    # Yandex Object Storage (any S3: MinIO, AWS): no ACL sent (the bucket's own), no signed URLs, replaced in place.
    s3 = {
        "bucket_name": "playground-media.example",
        "location": "recordings",
        "endpoint_url": "https://storage.yandexcloud.net",
        "region_name": "ru-central1",
        "default_acl": None,
        "querystring_auth": False,
        "file_overwrite": True,
        "access_key": "YCAJEexample",
        "secret_key": MEDIA_SECRET,
    }
    assert recordings(YANDEX_OBJECT_STORAGE) == {"BACKEND": "storages.backends.s3.S3Storage", "OPTIONS": s3}
    got = recordings({**YANDEX_OBJECT_STORAGE, "PLAYGROUND_MEDIA_PREFIX": "/playground/audio/"})
    assert got["OPTIONS"]["location"] == "playground/audio"
    # A bucket alone: AWS's endpoint, boto3's own region and credentials (AWS_* variables, ~/.aws, a role).
    assert recordings({"PLAYGROUND_MEDIA_BUCKET": "media"})["OPTIONS"] == {
        "bucket_name": "media",
        "location": "recordings",
        "endpoint_url": None,
        "region_name": None,
        "default_acl": None,
        "querystring_auth": False,
        "file_overwrite": True,
    }


def test_bad_media_settings_are_named_and_never_echo_the_secret(tmp_path: Path) -> None:
    cases = {
        "PLAYGROUND_MEDIA_BUCKET is 'Media_Bucket': a bucket name is 3 to 63 lowercase letters": {
            **YANDEX_OBJECT_STORAGE,
            "PLAYGROUND_MEDIA_BUCKET": "Media_Bucket",
        },
        "PLAYGROUND_MEDIA_ENDPOINT_URL must be an http:// or https:// URL (e.g. https://storage.yandexcloud.net), "
        "not 'storage.yandexcloud.net'": {
            **YANDEX_OBJECT_STORAGE,
            "PLAYGROUND_MEDIA_ENDPOINT_URL": "storage.yandexcloud.net",
        },
        "PLAYGROUND_MEDIA_ACCESS_KEY_ID is missing": {**YANDEX_OBJECT_STORAGE, "PLAYGROUND_MEDIA_ACCESS_KEY_ID": ""},
        "PLAYGROUND_MEDIA_SECRET_ACCESS_KEY is missing": {
            **YANDEX_OBJECT_STORAGE,
            "PLAYGROUND_MEDIA_SECRET_ACCESS_KEY": "",
        },
        # S3 settings without a bucket would silently keep the files on local disk.
        "PLAYGROUND_MEDIA_ENDPOINT_URL, PLAYGROUND_MEDIA_REGION, PLAYGROUND_MEDIA_ACCESS_KEY_ID, "
        "PLAYGROUND_MEDIA_SECRET_ACCESS_KEY need PLAYGROUND_MEDIA_BUCKET": {
            **YANDEX_OBJECT_STORAGE,
            "PLAYGROUND_MEDIA_BUCKET": "",
        },
        "PLAYGROUND_MEDIA_REGION needs PLAYGROUND_MEDIA_BUCKET": {"PLAYGROUND_MEDIA_REGION": "ru-central1"},
        "PLAYGROUND_MEDIA_DIR and PLAYGROUND_MEDIA_BUCKET exclude each other": {
            **YANDEX_OBJECT_STORAGE,
            "PLAYGROUND_MEDIA_DIR": "/srv/media",
        },
    }
    for message, env in cases.items():
        res = start(env, tmp_path)
        assert res.returncode != 0 and message in res.stderr, (message, res.stderr[-500:])
        assert MEDIA_SECRET not in res.stderr + res.stdout


SHOW_SAFE_STORAGES = """
import json, django
django.setup()
from django.views.debug import SafeExceptionReporterFilter
print(json.dumps(SafeExceptionReporterFilter().get_safe_settings()["STORAGES"], default=str))
"""


def test_the_media_secret_is_hidden_from_error_reports(tmp_path: Path) -> None:
    # Django's debug page and the error e-mails show the settings through this filter.
    res = run(["-c", SHOW_SAFE_STORAGES], YANDEX_OBJECT_STORAGE, tmp_path)
    assert res.returncode == 0, res.stderr
    shown = json.loads(res.stdout.splitlines()[-1])["recordings"]["OPTIONS"]
    assert MEDIA_SECRET not in res.stdout
    assert shown["secret_key"] == shown["access_key"] == "********************"
    assert shown["bucket_name"] == "playground-media.example"


def test_each_test_keeps_recordings_media_in_a_directory_of_its_own() -> None:
    # tests/conftest.py: never the checkout's var/media/ (a developer's recordings), nor a bucket.
    from django.conf import settings
    from django.core.files.base import ContentFile
    from django.core.files.storage import FileSystemStorage, storages

    storage = storages["recordings"]
    assert isinstance(storage, FileSystemStorage)
    assert Path(storage.location) != settings.VAR_DIR / "media"
    assert not [name for name in os.environ if name.startswith("PLAYGROUND_MEDIA_")]
    assert storage.save("sessions/x/user.flac", ContentFile(b"fLaC")) == "sessions/x/user.flac"
    assert storage.save("sessions/x/user.flac", ContentFile(b"fLaC2")) == "sessions/x/user.flac"  # replaced
    assert (Path(storage.location) / "sessions/x/user.flac").read_bytes() == b"fLaC2"
