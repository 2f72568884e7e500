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
    assert res.stdout.split() == ["django.db.backends.sqlite3", "playground.realtime.layers.FastInMemoryChannelLayer"]
    assert (tmp_path / "secret_key").exists()


def test_urls_switch_to_postgresql_and_redis(tmp_path: Path) -> None:
    res = start(
        {"PLAYGROUND_DATABASE_URL": "postgres://u@db:5432/x", "PLAYGROUND_REDIS_URL": "redis://r:6379/0"}, tmp_path
    )
    assert res.returncode == 0, res.stderr
    assert res.stdout.split() == ["django.db.backends.postgresql", "channels_redis.core.RedisChannelLayer"]


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
