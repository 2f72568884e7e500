"""Settings come from the environment; with debug off, missing essentials stop the start."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

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
    assert res.stdout.split() == [
        "django.db.backends.sqlite3",
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
        "django.db.backends.postgresql",
        "playground.realtime.runtime.pubsub_layer.BatchingPubSubChannelLayer",
    ]
    env = {"PLAYGROUND_DATABASE_URL": "postgres://u@db:5432/x", "PLAYGROUND_REDIS_URL": "redis://r:6379/0"}
    res = start({**env, "PLAYGROUND_CHANNEL_LAYER": "redis"}, tmp_path)
    assert res.stdout.split() == ["django.db.backends.postgresql", "channels_redis.core.RedisChannelLayer"]
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
