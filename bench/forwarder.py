"""The baseline: a bare `websockets` forwarder, no Django, no recording, no channel layer.

Each client connection gets one upstream connection; frames are copied both ways
as they come. Whatever the playground adds is measured against this.

    python -m bench.forwarder --port 9001 --upstream ws://127.0.0.1:9000/v1/realtime
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib

from websockets.asyncio.client import connect
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed


async def pipe(source: object, sink: object) -> None:
    with contextlib.suppress(ConnectionClosed):
        async for message in source:  # type: ignore[attr-defined]
            await sink.send(message)  # type: ignore[attr-defined]


async def main(port: int, upstream: str) -> None:
    async def handle(client: ServerConnection) -> None:
        query = client.request.path.partition("?")[2] if client.request else ""
        url = upstream + ("?" + query if query else "")
        async with connect(url, max_size=None, compression=None) as up:
            tasks = [asyncio.create_task(pipe(client, up)), asyncio.create_task(pipe(up, client))]
            # Either side closing ends the pair.
            _, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            for task in pending:
                task.cancel()

    async with serve(handle, "127.0.0.1", port, max_size=None, compression=None):
        print(f"forwarder on ws://127.0.0.1:{port}", flush=True)
        await asyncio.Future()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--upstream", required=True)
    args = parser.parse_args()
    asyncio.run(main(args.port, args.upstream))
