"""`python -m emulator --port N`: the offline realtime server on its own.

Point the playground's PLAYGROUND_EMULATOR_URL at the URL it prints to share
one emulator between several workers (or machines); unset, each worker runs
its own. --pace and --lifetime default to PLAYGROUND_EMULATOR_PACE and
PLAYGROUND_EMULATOR_LIFETIME, as the playground's in-process emulator does.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal

from .server import EmulatorServer


def _env_number(name: str, default: float) -> float:
    value = os.environ.get(name, "")
    if value == "":
        return default
    try:
        return float(value)
    except ValueError:
        raise SystemExit(f"{name} must be a number, not {value!r}") from None


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m emulator",
        description="Serve the realtime emulator (the GA realtime protocol, Yandex dialect, offline) until Ctrl-C.",
    )
    parser.add_argument("--port", type=int, required=True, help="TCP port (0: any free port)")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument(
        "--pace",
        type=float,
        default=_env_number("PLAYGROUND_EMULATOR_PACE", 0.0),
        metavar="EVENTS_PER_S",
        help="events per second of each response stream; 0: as fast as possible (default %(default)s)",
    )
    parser.add_argument(
        "--lifetime",
        type=float,
        default=_env_number("PLAYGROUND_EMULATOR_LIFETIME", 300.0),
        metavar="SECONDS",
        help="session lifetime, then session_expired and close 1000; 0: no limit (default %(default)s)",
    )
    parser.add_argument(
        "--rate",
        type=int,
        default=44100,
        metavar="HZ",
        help="the one PCM16 rate of its sessions, both ways (default %(default)s, Yandex's); e.g. 24000 to measure "
        "/v1/realtime without audio conversion",
    )
    options = parser.parse_args(argv)
    if not 8000 <= options.rate <= 96000:
        parser.error("--rate must be from 8000 to 96000 Hz")
    return options


async def _serve(server: EmulatorServer, host: str, port: int) -> None:
    url = await server.start(host, port)
    print(
        f"Realtime emulator listening on {url} (pace {server.events_per_second:g} events/s, "
        f"session lifetime {server.session_lifetime_s:g} s, PCM at {server.sample_rate} Hz). Ctrl-C to stop.",
        flush=True,
    )
    task = asyncio.current_task()
    loop = asyncio.get_running_loop()
    # SIGTERM (docker stop) stops as cleanly as Ctrl-C.
    with contextlib.suppress(NotImplementedError):
        if task is not None:
            loop.add_signal_handler(signal.SIGTERM, task.cancel)
    with contextlib.suppress(asyncio.CancelledError):
        await server.serve_forever()


def main(argv: list[str] | None = None) -> None:
    options = parse_args(argv)
    server = EmulatorServer(
        events_per_second=options.pace, session_lifetime_s=options.lifetime, sample_rate=options.rate
    )
    # Ctrl-C cancels the serving task; asyncio.run then re-raises it here once the server has closed.
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(server, options.host, options.port))
    print("Realtime emulator stopped.", flush=True)


if __name__ == "__main__":
    main()
