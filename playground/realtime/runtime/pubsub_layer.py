"""channels_redis' RedisPubSubChannelLayer with the relay's publishes batched.

The stock layer sends each group_send as its own PUBLISH, awaited under the shard's lock: one write
system call and one round trip per message. A relay at 50 events/s sends nearly every event as a
message of its own, so 50 sessions meant 2,500 serialised round trips a second on worker A
(docs/relay-profile.md). Here `group_send_nowait` queues the message, and one writer per shard sends
everything queued during a loop round as one pipeline: one write, one read of the replies, in
order. Receiving is the stock layer's, without its 0.1 s polling timeout per message.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from channels_redis.pubsub import RedisPubSubChannelLayer, RedisPubSubLoopLayer, RedisSingleShardConnection
from channels_redis.utils import _wrap_close, decode_hosts

logger = logging.getLogger(__name__)


class BatchingPubSubChannelLayer(RedisPubSubChannelLayer):
    def _get_layer(self) -> BatchingLoopLayer:
        loop = asyncio.get_running_loop()
        layer = self._layers.get(loop)
        if layer is None:
            layer = self._layers[loop] = BatchingLoopLayer(*self._args, **self._kwargs, channel_layer=self)
            _wrap_close(self, loop)
        return layer


class BatchingLoopLayer(RedisPubSubLoopLayer):
    def __init__(self, hosts: Any = None, **kwargs: Any) -> None:
        super().__init__(hosts, **kwargs)
        self._shards = [BatchingShard(host, self) for host in decode_hosts(hosts)]

    def group_send_nowait(self, group: str, message: dict[str, Any]) -> None:
        """Publish after this loop round, together with every other message queued in it."""
        name = self._get_group_channel_name(group)
        self._get_shard(name).publish_soon(name, self.channel_layer.serialize(message))

    async def drain(self) -> None:
        """Wait until everything queued so far has been handed to Redis."""
        for shard in self._shards:
            await shard.drain()


class BatchingShard(RedisSingleShardConnection):
    def __init__(self, host: Any, channel_layer: Any) -> None:
        super().__init__(host, channel_layer)
        self._pending: list[tuple[str, bytes]] = []
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._writer: asyncio.Task[None] | None = None

    def publish_soon(self, channel: str, data: bytes) -> None:
        self._pending.append((channel, data))
        self._idle.clear()
        if self._writer is None or self._writer.done():
            self._writer = asyncio.ensure_future(self._write())
        self._wake.set()

    async def drain(self) -> None:
        await self._idle.wait()

    async def _write(self) -> None:
        while True:
            await self._wake.wait()
            # Let the rest of this loop round queue its messages first (a lone event still goes at once).
            await asyncio.sleep(0)
            self._wake.clear()
            batch, self._pending = self._pending, []
            try:
                self._ensure_redis()
                pipe = self._redis.pipeline(transaction=False)
                for channel, data in batch:
                    pipe.publish(channel, data)
                await pipe.execute()
            except Exception:
                # The recording holds every frame: a watcher that misses these sees the gap in the next
                # batch's seq and fetches it from there (SessionConsumer._forward).
                logger.exception("Could not publish %d relay messages to Redis", len(batch))
            if not self._pending:
                self._idle.set()

    async def flush(self) -> None:
        if self._writer is not None:
            self._writer.cancel()
            self._writer = None
        self._pending = []
        self._idle.set()
        await super().flush()

    async def _do_receiving(self) -> None:
        # The stock loop polls with a 0.1 s timeout per message (an asyncio.timeout each); this one
        # blocks on the connection while something is subscribed.
        while True:
            try:
                if self._pubsub and self._pubsub.subscribed:
                    message = await self._pubsub.get_message(ignore_subscribe_messages=True, timeout=None)
                    self._receive_message(message)
                else:
                    await asyncio.sleep(0.1)
            except (TimeoutError, asyncio.CancelledError, GeneratorExit):
                raise
            except BaseException:
                logger.exception("Unexpected exception in receive task")
                await asyncio.sleep(1)
