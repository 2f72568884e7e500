"""The playground served as `make run` serves it: uvicorn in a subprocess, its own database."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class ServedProcess:
    """One uvicorn process serving the playground: its base URL and the process itself."""

    url: str
    proc: subprocess.Popen[bytes]
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def playground_env(var_dir: Path, env: dict[str, str] | None = None) -> dict[str, str]:
    return {
        **os.environ,
        "PLAYGROUND_VAR_DIR": str(var_dir),
        "DJANGO_SETTINGS_MODULE": "playground.settings",
        "YC_API_KEY": "",
        "YC_IAM_TOKEN": "",
        # The browser tests open many sessions in one served playground (not all closed).
        "PLAYGROUND_MAX_LIVE_SESSIONS": "200",
        # Browser tests sign up dozens of users from one address and open many sessions each:
        # the abuse limits (tests/test_abuse.py tests them) are off here.
        "PLAYGROUND_SIGNUPS_PER_HOUR": "0",
        "PLAYGROUND_SESSIONS_PER_MINUTE": "0",
        "PLAYGROUND_LIVE_SESSIONS_PER_USER": "0",
        **(env or {}),
    }


def manage(var_dir: Path, *args: str, env: dict[str, str] | None = None) -> str:
    """Run `manage.py <args>` with the served playground's environment; returns its output."""
    done = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=playground_env(var_dir, env),
        check=True,
        capture_output=True,
        text=True,
    )
    return done.stdout


@contextmanager
def served_process(
    var_dir: Path, *, env: dict[str, str] | None = None, migrate: bool = True, name: str = "server", workers: int = 1
) -> Iterator[ServedProcess]:
    """Serve the playground from one uvicorn process (migrating first unless told not to), as
    `make run` does; several can share PostgreSQL and Redis, as `make serve`'s workers do. With `workers`,
    one uvicorn with that many worker processes on one port, exactly as `make serve` runs it."""
    full_env = playground_env(var_dir, env)
    if migrate:
        subprocess.run(
            [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=full_env, check=True
        )
    port = free_port()
    log_path = var_dir / f"{name}.log"
    log = open(log_path, "w")  # noqa: SIM115 - closed below, after the process
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
            *(["--workers", str(workers)] if workers > 1 else []),
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
                    raise RuntimeError("the playground did not start:\n" + log_path.read_text()) from None
                time.sleep(0.1)
        yield ServedProcess(url=base, proc=proc, log_path=log_path)
    finally:
        if proc.poll() is None:
            proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        log.close()


@contextmanager
def served_playground(var_dir: Path, *, env: dict[str, str] | None = None) -> Iterator[str]:
    """Migrate a fresh database in `var_dir`, serve it, yield the base URL, stop it."""
    with served_process(var_dir, env=env) as served:
        yield served.url
