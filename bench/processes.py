"""The processes a benchmark run starts: the emulator, the bare forwarder and the playground.

The relay under test (forwarder or playground) is pinned to one core; the emulator
and the load generator share the other, so what is measured is one worker's work.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
CORES = sorted(os.sched_getaffinity(0))
RELAY_CORE = {CORES[-1]}
LOAD_CORES = set(CORES[:-1]) or RELAY_CORE


# As `make run` serves the playground (Makefile), with the access log off.
UVICORN = [sys.executable, "-m", "uvicorn", "playground.asgi:application", "--host", "127.0.0.1"]
UVICORN += ["--ws", "websockets-sansio", "--lifespan", "off"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def pin(pid: int, cores: set[int]) -> None:
    os.sched_setaffinity(pid, cores)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for {pid}")


def wait_for_port(port: int, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args!r} exited:\n{log.read_text()[-3000:]}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"{proc.args!r} did not listen on {port}:\n{log.read_text()[-3000:]}")


@contextmanager
def process(args: list[str], *, port: int, cores: set[int], log: Path, env: dict[str, str]) -> Iterator[int]:
    with open(log, "wb") as out:
        proc = subprocess.Popen(args, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
        try:
            pin(proc.pid, cores)
            wait_for_port(port, proc, log)
            yield proc.pid
        finally:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()


def playground_env(var: Path, **overrides: str) -> dict[str, str]:
    """A playground's environment as the bench runs it: no Yandex credentials, SQLite and the in-memory
    channel layer unless `overrides` say otherwise, and no abuse limits."""
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "playground.settings",
        "PLAYGROUND_VAR_DIR": str(var),
        "YC_API_KEY": "",
        "YC_IAM_TOKEN": "",
        "PLAYGROUND_DATABASE_URL": "",
        "PLAYGROUND_REDIS_URL": "",
        "PLAYGROUND_MAX_LIVE_SESSIONS": "100000",
        # One user ("bench") opens every session: the per-user abuse limits would stop it.
        "PLAYGROUND_SESSIONS_PER_MINUTE": "0",
        "PLAYGROUND_LIVE_SESSIONS_PER_USER": "0",
        **overrides,
    }


def prepare(env: dict[str, str], user: str = "bench") -> str:
    """Migrate the database `env` names; an API token for `user`."""
    manage = [sys.executable, "manage.py"]
    subprocess.run([*manage, "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=env, check=True)
    return subprocess.run(
        [*manage, "create_api_token", user], cwd=ROOT, env=env, check=True, capture_output=True, text=True
    ).stdout.strip()


def serve_playground(stack: ExitStack, env: dict[str, str], *, cores: set[int], log: Path) -> tuple[str, int]:
    """A worker as `make run` serves it (access log off) on a free port: its base URL and pid."""
    port = free_port()
    args = [*UVICORN, "--port", str(port), "--log-level", "warning", "--no-access-log"]
    pid = stack.enter_context(process(args, port=port, cores=cores, log=log, env=env))
    url = f"http://127.0.0.1:{port}"
    httpx.get(url + "/accounts/login/", timeout=30).raise_for_status()
    return url, pid


@dataclass
class Services:
    emulator_url: str
    forwarder_url: str
    playground_url: str
    playground_pid: int
    forwarder_pid: int
    token: str


@contextmanager
def services(work: Path) -> Iterator[Services]:
    """Start the emulator, the bare forwarder and the playground (as `make run` serves it)."""
    emulator_port, forwarder_port = free_port(), free_port()
    emulator_url = f"ws://127.0.0.1:{emulator_port}/v1/realtime"
    env = playground_env(work, PLAYGROUND_EMULATOR_URL=emulator_url)
    token = prepare(env)
    with ExitStack() as stack:
        stack.enter_context(
            process(
                [sys.executable, "-m", "emulator", "--port", str(emulator_port), "--lifetime", "0"],
                port=emulator_port,
                cores=LOAD_CORES,
                log=work / "emulator.log",
                env=env,
            )
        )
        forwarder_pid = stack.enter_context(
            process(
                [sys.executable, "-m", "bench.forwarder", "--port", str(forwarder_port), "--upstream", emulator_url],
                port=forwarder_port,
                cores=RELAY_CORE,
                log=work / "forwarder.log",
                env=env,
            )
        )
        playground_url, playground_pid = serve_playground(stack, env, cores=RELAY_CORE, log=work / "playground.log")
        pin(os.getpid(), LOAD_CORES)
        yield Services(
            emulator_url=emulator_url,
            forwarder_url=f"ws://127.0.0.1:{forwarder_port}/v1/realtime",
            playground_url=playground_url,
            playground_pid=playground_pid,
            forwarder_pid=forwarder_pid,
            token=token,
        )


# --- the production profile: PostgreSQL, Redis, two workers ---------------------------------------

BENCH_POSTGRES_URL = os.environ.get("PLAYGROUND_BENCH_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/postgres")
BENCH_REDIS_URL = os.environ.get("PLAYGROUND_BENCH_REDIS_URL", "redis://127.0.0.1:6379/13")
LAYERS = ("redis", "pubsub")


class ServicesMissing(RuntimeError):
    pass


def skip_services() -> bool:
    return os.environ.get("PLAYGROUND_BENCH_SKIP_SERVICES", "") not in ("", "0")


def check_services() -> None:
    """Fail in words, before anything is measured, when PostgreSQL or Redis does not answer."""
    import psycopg
    import redis

    problems = []
    try:
        with psycopg.connect(BENCH_POSTGRES_URL, connect_timeout=5, autocommit=True) as conn:
            conn.execute("SELECT 1")
    except Exception as exc:
        problems.append(f"PostgreSQL at {BENCH_POSTGRES_URL}: {exc}".strip())
    try:
        redis.Redis.from_url(BENCH_REDIS_URL, socket_connect_timeout=5).ping()
    except Exception as exc:
        problems.append(f"Redis at {BENCH_REDIS_URL}: {exc}")
    if problems:
        raise ServicesMissing(
            "the production profile (PostgreSQL, Redis, two workers) cannot run:\n  "
            + "\n  ".join(problems)
            + "\nStart them (trust auth, user postgres; PLAYGROUND_BENCH_POSTGRES_URL / PLAYGROUND_BENCH_REDIS_URL "
            "name others), or set PLAYGROUND_BENCH_SKIP_SERVICES=1 to measure the embedded profile only."
        )


def _with_db(url: str, name: str) -> str:
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, ""))


@dataclass
class Production:
    """Two playground workers sharing PostgreSQL and Redis: sessions open on A (their relays run
    there), watchers connect to B, so every frame and client event crosses processes."""

    layer: str
    relay_url: str  # worker A: REST, relays
    watch_url: str  # worker B: WebSockets
    relay_pid: int
    watch_pid: int
    token: str


@contextmanager
def postgres_database(name: str) -> Iterator[str]:
    """A fresh PostgreSQL database on the bench's server, dropped afterwards: its URL."""
    import psycopg

    with psycopg.connect(BENCH_POSTGRES_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield _with_db(BENCH_POSTGRES_URL, name)
    finally:
        with psycopg.connect(BENCH_POSTGRES_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def production(
    work: Path, svc: Services, layer: str, cores: tuple[set[int], set[int]] = (RELAY_CORE, RELAY_CORE)
) -> Iterator[Production]:
    import redis

    redis.Redis.from_url(BENCH_REDIS_URL).flushdb()
    var = work / f"production-{layer}"
    var.mkdir(exist_ok=True)
    try:
        with postgres_database(f"bench_{os.getpid()}_{layer}") as database_url, ExitStack() as stack:
            env = playground_env(
                var,
                PLAYGROUND_DATABASE_URL=database_url,
                PLAYGROUND_REDIS_URL=BENCH_REDIS_URL,
                PLAYGROUND_CHANNEL_LAYER=layer,
                PLAYGROUND_EMULATOR_URL=svc.emulator_url,
            )
            token = prepare(env)
            pids, urls = [], []
            for worker, worker_cores in zip(("a", "b"), cores, strict=True):
                url, pid = serve_playground(stack, env, cores=worker_cores, log=work / f"worker-{layer}-{worker}.log")
                pids.append(pid)
                urls.append(url)
            yield Production(
                layer=layer, relay_url=urls[0], watch_url=urls[1], relay_pid=pids[0], watch_pid=pids[1], token=token
            )
    finally:
        redis.Redis.from_url(BENCH_REDIS_URL).flushdb()


@dataclass
class MediaWorker:
    """One worker on a PostgreSQL database of its own, with its media store in a fresh directory:
    where the voice, fan-out and replay steps measure what a recording costs."""

    url: str
    pid: int
    token: str
    database_url: str
    media_dir: Path
    env: dict[str, str]


@contextmanager
def media_worker(work: Path, svc: Services) -> Iterator[MediaWorker]:
    var = work / "media-worker"
    media = var / "media"
    media.mkdir(parents=True, exist_ok=True)
    with postgres_database(f"bench_{os.getpid()}_media") as database_url, ExitStack() as stack:
        env = playground_env(
            var,
            PLAYGROUND_DATABASE_URL=database_url,
            PLAYGROUND_MEDIA_DIR=str(media),
            PLAYGROUND_EMULATOR_URL=svc.emulator_url,
        )
        token = prepare(env)
        url, pid = serve_playground(stack, env, cores=RELAY_CORE, log=work / "media-worker.log")
        pin(os.getpid(), LOAD_CORES)
        yield MediaWorker(url=url, pid=pid, token=token, database_url=database_url, media_dir=media, env=env)


def tree_bytes(path: Path) -> int:
    """Bytes of every file under `path`."""
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
