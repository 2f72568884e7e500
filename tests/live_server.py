"""The playground served as `make run` serves it: uvicorn in a subprocess, its own database."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def served_playground(var_dir: Path, *, env: dict[str, str] | None = None) -> Iterator[str]:
    """Migrate a fresh database in `var_dir`, serve it, yield the base URL, stop it."""
    full_env = {
        **os.environ,
        "PLAYGROUND_VAR_DIR": str(var_dir),
        "DJANGO_SETTINGS_MODULE": "playground.settings",
        "YC_API_KEY": "",
        "YC_IAM_TOKEN": "",
        # The browser tests open many sessions in one served playground (not all closed).
        "PLAYGROUND_MAX_LIVE_SESSIONS": "200",
        **(env or {}),
    }
    subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=full_env, check=True)
    port = free_port()
    log = open(var_dir / "server.log", "w")  # noqa: SIM115 - closed below, after the process
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "playground.asgi:application",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--ws",
            "websockets-sansio",
            "--lifespan",
            "off",
        ],
        cwd=ROOT,
        env=full_env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(base + "/accounts/login/", timeout=1)
                break
            except httpx.TransportError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    log_text = (var_dir / "server.log").read_text()
                    raise RuntimeError("the playground did not start:\n" + log_text) from None
                time.sleep(0.1)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
