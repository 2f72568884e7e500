"""The test suite never reaches Yandex, even on a machine with Yandex's credentials exported.

tests/conftest.py clears every YC_* variable for every test (environment and settings) and installs a
loopback guard (tests/loopback.py) that refuses, and remembers, any name lookup or connection beyond this
machine. The last test runs tests that would take the default upstream, which is Yandex whenever it is
configured, in a pytest of their own with real-looking credentials exported and Yandex's real URL: they
pass on the emulator and nothing left loopback.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from websockets.asyncio.client import connect

from playground.realtime.upstreams import default_upstream_name
from tests.live_server import ROOT

# They open sessions without naming an upstream (a preset's run, /v1/realtime): Yandex's if it were configured,
# and none clears the credentials itself.
DEFAULT_UPSTREAM_TESTS = [
    "tests/test_teams.py::test_lists_show_the_team_what_it_may_see_and_strangers_nothing",
    "tests/test_gate.py::test_every_way_to_open_a_session_shares_the_one_gate",
]


def test_yandex_variables_are_cleared_for_every_test() -> None:
    assert not [name for name in os.environ if name.startswith("YC_")]
    assert settings.YC_API_KEY == settings.YC_IAM_TOKEN == settings.YC_FOLDER_ID == ""
    assert default_upstream_name() == "emulator"


async def test_the_guard_refuses_anything_beyond_loopback(_no_yandex: Any) -> None:
    with pytest.raises(OSError, match="never leaves loopback"):
        socket.create_connection(("ai.api.cloud.yandex.net", 443), timeout=1)
    with pytest.raises(OSError, match="never leaves loopback"):
        socket.socket().connect(("192.0.2.1", 443))  # an address, no lookup
    with pytest.raises(OSError, match="never leaves loopback"):
        await connect("wss://ai.api.cloud.yandex.net/v1/realtime", open_timeout=2)
    assert len(_no_yandex.refused) == 3
    _no_yandex.refused.clear()  # refused on purpose here; any other test that tries fails


def test_with_yandex_credentials_exported_nothing_leaves_loopback(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PLAYGROUND_", "PYTEST_"))}
    env |= {
        "YC_API_KEY": "AQVN-exported-by-a-developer",
        "YC_IAM_TOKEN": "t1.exported-by-a-developer",
        "YC_FOLDER_ID": "b1gexported",
        "PLAYGROUND_VAR_DIR": str(tmp_path),
        "PLAYGROUND_TEST_DB": str(tmp_path / "test.sqlite3"),
    }
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", *DEFAULT_UPSTREAM_TESTS],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    summary = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else ""
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert summary.startswith(f"{len(DEFAULT_UPSTREAM_TESTS)} passed"), summary
    assert "leave loopback" not in done.stdout
