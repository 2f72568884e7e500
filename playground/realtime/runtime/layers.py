"""An in-memory channel layer that costs O(1) per message.

Channels' InMemoryChannelLayer scans every channel and every group membership
on each send and receive (to expire old messages), creates a task per group
member and deep-copies every message: with a few hundred watchers that is most
of a relay's CPU (docs/relay-profile.md). This one expires
at most once a second, sends to group members directly and keeps a channel's
queue while it is in use instead of rebuilding it for every message. Messages are
shallow-copied: the playground's messages hold only strings and numbers, and
no receiver mutates them.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from typing import Any

from channels.exceptions import ChannelFull
from channels.layers import InMemoryChannelLayer

EXPIRE_EVERY_S = 1.0


class FastInMemoryChannelLayer(InMemoryChannelLayer):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._next_clean = 0.0

    def _clean_expired(self) -> None:
        now = time.monotonic()
        if now < self._next_clean:
            return
        self._next_clean = now + EXPIRE_EVERY_S
        super()._clean_expired()

    async def new_channel(self, prefix: str = "specific.") -> str:
        # Channels draws the name from the `random` module, whose state anyone in the process may seed:
        # hypothesis reseeds it for every example, and two relays then got one channel (found by the fuzz).
        return f"{prefix}.inmemory!{secrets.token_urlsafe(12)}"

    async def send(self, channel: str, message: dict[str, Any]) -> None:
        assert isinstance(message, dict), "message is not a dict"
        queue = self.channels.get(channel)
        if queue is None:
            self.require_valid_channel_name(channel)
            queue = self.channels.setdefault(channel, asyncio.Queue(maxsize=self.get_capacity(channel)))
        try:
            queue.put_nowait((time.time() + self.expiry, dict(message)))
        except asyncio.QueueFull:
            raise ChannelFull(channel) from None

    async def group_send(self, group: str, message: dict[str, Any]) -> None:
        self.group_send_nowait(group, message)

    def group_send_nowait(self, group: str, message: dict[str, Any]) -> None:
        """group_send without a coroutine: the relay publishes from a plain callback."""
        assert isinstance(message, dict), "Message is not a dict"
        self._clean_expired()
        members = self.groups.get(group)
        if not members:
            return
        expires = time.time() + self.expiry
        for channel in list(members):
            queue = self.channels.get(channel)
            if queue is None:
                queue = self.channels.setdefault(channel, asyncio.Queue(maxsize=self.get_capacity(channel)))
            if queue.full():
                # Channels drops the newest message here. Dropping the oldest instead means the latest batch
                # always arrives: its first seq shows the watcher the gap, which it fills from the recording
                # (a dropped last batch would go unnoticed until the session said something more).
                queue.get_nowait()
            queue.put_nowait((expires, dict(message)))


async def channel_done(layer: Any, channel: str) -> None:
    """Forget a channel this process made with new_channel() and reads no more.

    RedisPubSubChannelLayer keeps a channel subscribed (in Redis, with a queue here) until a receive
    on it is cancelled: a reply channel whose answer came, or a consumer's channel cancelled between
    two receives, would stay subscribed as long as the process lives. Other layers need nothing."""
    get_layer = getattr(type(layer), "_get_layer", None)  # RedisPubSubChannelLayer: one per event loop
    if get_layer is None:
        return
    inner = get_layer(layer)
    if inner.channels.pop(channel, None) is not None:
        await inner._get_shard(channel).unsubscribe(channel)
