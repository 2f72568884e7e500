"""`python manage.py realtime_emulator --port N`: the offline realtime server on its own.

Point PLAYGROUND_EMULATOR_URL at the URL it prints to share one emulator
between several workers (or machines); unset, each worker runs its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from playground.realtime.upstreams.emulator import EmulatorServer


class Command(BaseCommand):
    help = "Serve the realtime emulator (the GA realtime protocol, Yandex dialect, offline) until Ctrl-C."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--port", type=int, required=True, help="TCP port (0: any free port)")
        parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
        parser.add_argument(
            "--pace",
            type=float,
            default=settings.PLAYGROUND_EMULATOR_PACE,
            metavar="EVENTS_PER_S",
            help="events per second of each response stream; 0: as fast as possible (default %(default)s)",
        )
        parser.add_argument(
            "--lifetime",
            type=float,
            default=settings.PLAYGROUND_EMULATOR_LIFETIME,
            metavar="SECONDS",
            help="session lifetime, then session_expired and close 1000; 0: no limit (default %(default)s)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        server = EmulatorServer(events_per_second=options["pace"], session_lifetime_s=options["lifetime"])
        # Ctrl-C cancels the serving task; asyncio.run then re-raises it here once the server has closed.
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(self._serve(server, options["host"], options["port"]))
        self.stdout.write("Realtime emulator stopped.")

    async def _serve(self, server: EmulatorServer, host: str, port: int) -> None:
        url = await server.start(host, port)
        self.stdout.write(
            f"Realtime emulator listening on {url} (pace {server.events_per_second:g} events/s, "
            f"session lifetime {server.session_lifetime_s:g} s). Ctrl-C to stop."
        )
        self.stdout.flush()
        task = asyncio.current_task()
        loop = asyncio.get_running_loop()
        # SIGTERM (docker stop) stops as cleanly as Ctrl-C.
        with contextlib.suppress(NotImplementedError):
            if task is not None:
                loop.add_signal_handler(signal.SIGTERM, task.cancel)
        with contextlib.suppress(asyncio.CancelledError):
            await server.serve_forever()
