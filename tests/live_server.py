"""The playground served as `make run` serves it: uvicorn in a subprocess, its own database."""

from __future__ import annotations

import os
import socket
import ssl
import subprocess
import sys
import time
import uuid
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


def _trusting(cert: Path) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(cert))


def self_signed_cert(directory: Path) -> tuple[Path, Path]:
    """(certificate, key) PEM files for 127.0.0.1, valid for a day: its own CA, so a client can trust it
    (Node: NODE_EXTRA_CA_CERTS) the way it would trust a company's private CA."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


@contextmanager
def served_process(
    var_dir: Path,
    *,
    env: dict[str, str] | None = None,
    migrate: bool = True,
    name: str = "server",
    tls: tuple[Path, Path] | None = None,
    workers: int = 1,
) -> Iterator[ServedProcess]:
    """Serve the playground from one uvicorn process (migrating first unless told not to), as
    `make run` does; several can share PostgreSQL and Redis, as `make serve`'s workers do.
    `tls`: (certificate, key) to serve HTTPS and WSS, as behind a TLS-terminating uvicorn. With `workers`,
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
            *(["--ssl-certfile", str(tls[0]), "--ssl-keyfile", str(tls[1])] if tls else []),
            *(["--workers", str(workers)] if workers > 1 else []),
        ],
        cwd=ROOT,
        env=full_env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"{'https' if tls else 'http'}://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(base + "/accounts/login/", timeout=1, verify=_trusting(tls[0]) if tls else True)
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
def served_playground(
    var_dir: Path, *, env: dict[str, str] | None = None, tls: tuple[Path, Path] | None = None
) -> Iterator[str]:
    """Migrate a fresh database in `var_dir`, serve it, yield the base URL, stop it."""
    with served_process(var_dir, env=env, tls=tls) as served:
        yield served.url


def api_token(var_dir: Path, *, env: dict[str, str] | None = None) -> str:
    """An API token of a new user in the served playground's database (as `make token` prints one)."""
    # A user of its own: with PLAYGROUND_DATABASE_URL the served app shares a database across runs.
    return manage(var_dir, "create_api_token", f"client-{uuid.uuid4().hex[:8]}", env=env).strip()
