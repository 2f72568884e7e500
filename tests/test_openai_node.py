"""The official `openai` Node package's realtime client (OpenAIRealtimeWS), unchanged, against a served
playground: tests/clients/node/realtime.mjs, its versions pinned in package-lock.json.

That client always connects with `wss://` (it builds the URL from the base URL, TLS forced), so the
playground is served over HTTPS here with a certificate made for the test, which Node trusts through
NODE_EXTRA_CA_CERTS as it would a company's own CA. `npm ci` installs the client when its lock file
changed; Node.js 20+ and npm must be installed (they are not optional: the test fails without them).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.live_server import api_token, self_signed_cert, served_playground

CLIENT = Path(__file__).resolve().parent / "clients" / "node"
WORD_MS = 60  # the emulator speaks 60 ms per word


def npm_ci() -> None:
    """Install the pinned client unless this very lock file is what node_modules holds."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.fail("Node.js 20+ and npm are needed for this test (the Node openai client): install them.")
    lock = (CLIENT / "package-lock.json").read_bytes()
    stamp = CLIENT / "node_modules" / ".installed-from-lock"
    if stamp.exists() and stamp.read_bytes() == lock:
        return
    done = subprocess.run(
        ["npm", "ci", "--no-audit", "--no-fund"], cwd=CLIENT, capture_output=True, text=True, timeout=300
    )
    if done.returncode != 0:
        pytest.fail(f"npm ci failed in {CLIENT}:\n{done.stdout}\n{done.stderr}")
    stamp.write_bytes(lock)


@pytest.fixture(scope="module")
def served_tls(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str, Path]]:
    npm_ci()
    var_dir = tmp_path_factory.mktemp("node")
    cert, key = self_signed_cert(var_dir)
    with served_playground(var_dir, tls=(cert, key)) as base:
        yield base, api_token(var_dir), cert


def run_client(base: str, token: str, cert: Path) -> dict[str, Any]:
    done = subprocess.run(
        ["node", "realtime.mjs", f"{base}/v1", token],
        cwd=CLIENT,
        env={**os.environ, "NODE_EXTRA_CA_CERTS": str(cert)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, f"exit {done.returncode}:\n{done.stdout}\n{done.stderr}"
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def test_the_node_openai_client_calls_a_tool_and_hears_the_answer(served_tls: tuple[str, str, Path]) -> None:
    seen = run_client(*served_tls)
    assert seen["errors"] == []
    assert seen["calls"] == [{"name": "get_weather", "arguments": {"city": "Oslo"}}]
    assert seen["transcript"] == "The tool answered: Sunny, 21 degrees in Oslo."
    # The session it set, in OpenAI's terms: its voice, semantic VAD, 24 kHz.
    audio = seen["session"]["audio"]
    assert audio["output"] == {**audio["output"], "voice": "coral", "format": {"type": "audio/pcm", "rate": 24000}}
    assert audio["input"]["turn_detection"]["type"] == "semantic_vad"
    # The answer's audio: PCM16 at 24 kHz, 60 ms a word, to the byte.
    assert seen["audioBytes"] == len(seen["transcript"].split()) * 24000 * WORD_MS // 1000 * 2
