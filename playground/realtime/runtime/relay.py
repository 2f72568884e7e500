"""The Relay: one live session's upstream connection.

It runs as asyncio tasks in whichever worker opened the session. It listens on
its own channel-layer channel, so a REST call or a socket served by any worker
reaches it; nothing routes through an in-process registry.

What a relay costs decides its shape (docs/architecture.md, "The relay"; docs/relay-profile.md):
- one channel-layer message per *batch*: the publisher sends whatever frames
  piled up while its previous send was in flight (no timer: a lone event goes
  out at once, a burst goes as one message);
- recording happens in batches on a thread of its own, off the forwarding
  path: a slow write never delays a delta;
- the recording is the truth: watchers that see a gap fetch it from there.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from channels.layers import get_channel_layer
from django.conf import settings

from playground import metrics
from playground.usage import live as usage_live

from ..canned import CannedToolOutputs
from ..models import SessionState
from ..upstreams import UpstreamClosed, UpstreamConnection, UpstreamError
from . import lease, messages, recorder
from . import state as session_state
from .frames import Frame, notice_data, session_group
from .recorder import recorder_for_loop, run_on_recorder_thread

log = logging.getLogger(__name__)

FIRST_EVENT_TIMEOUT_S = 10.0
# Quiet this long after its last frame was recorded, a relay tells its watchers its seq (Relay._tail).
TAIL_S = 0.5
# How much of a malformed frame its notice keeps (the recording says how long it was).
MALFORMED_KEEP_CHARS = 10_000
# Server events that open or close a response: the stall watch (_watch_stall) follows them.
_RESPONSE_EVENTS = frozenset({"response.created", "response.done", "error"})

# Strong references to running relays' tasks (asyncio keeps only weak ones).
# Not a routing table: relays are reached through the channel layer only.
_running: set[asyncio.Task[None]] = set()


class Relay:
    def __init__(
        self,
        *,
        session_id: str,
        upstream: UpstreamConnection,
        upstream_title: str,
        canned: CannedToolOutputs | None = None,
    ) -> None:
        self.session_id = session_id
        self.canned = canned
        self._canned_tasks: set[asyncio.Task[None]] = set()
        self.upstream = upstream
        self.upstream_title = upstream_title
        self.layer = get_channel_layer()
        self.group = session_group(session_id)
        self.channel = ""
        self.seq = 0
        self._to_publish: list[Frame] = []
        self._publish_ready = asyncio.Event()
        self._publishing = False
        self._flush_scheduled = False
        # The in-memory layer can send without awaiting: then a batch goes out from a plain
        # callback, with no task switch per event.
        self._send_nowait: Callable[[str, Any], None] | None = getattr(self.layer, "group_send_nowait", None)
        # Set whenever a batch was published or recorded: the end of a session waits on it.
        self._progress = asyncio.Event()
        self._published_seq = 0
        self._recorded_seq = 0
        # The tail: once the relay is quiet and everything is recorded, its seq to every watcher (_tail).
        self._tail_timer: asyncio.TimerHandle | None = None
        self._tailed_seq = 0
        self._tail_sends: set[asyncio.Future[Any]] = set()
        self._close_request: messages.CloseMessage | None = None
        self._lease_lost = False
        self._end: tuple[str, str, str] | None = None
        self._ended = asyncio.Event()
        self._tasks: list[asyncio.Task[Any]] = []
        self._recorder = recorder_for_loop()
        # The stall watch: when the upstream last sent anything, when a response was last asked for,
        # and how many responses are asked for (not yet created) or running (not yet done).
        self._heard_at = self._asked_at = time.monotonic()
        self._responses_asked = self._responses_running = 0
        # A close asked for "after the current response" (a budget used up): done at the next response.done.
        self._end_after_response: tuple[str, str, str] | None = None
        self._created_at = 0.0  # time.time() of the latest response.created

    # --- life cycle -----------------------------------------------------------

    @property
    def recorded_seq(self) -> int:
        return self._recorded_seq

    async def start(
        self, *, initial_events: list[str], start_seq: int = 0, notices: list[tuple[str, str]] | None = None
    ) -> None:
        """Wait for the upstream's first event, go live, send the initial client events.

        A resumed session starts numbering after `start_seq` (its recording's last seq) and records
        `notices` (kind, notice data) before the new upstream's first event."""
        lease.ensure_sweeper()
        self.seq = self._recorded_seq = self._published_seq = start_seq
        # The default prefix on purpose: RedisChannelLayer pops all of a process's
        # channels from one list per prefix, under one lock; a second prefix starves the first.
        self.channel = await self.layer.new_channel()
        try:
            first = await asyncio.wait_for(self.upstream.recv(), FIRST_EVENT_TIMEOUT_S)
        except UpstreamError:
            metrics.upstream_fault(self.upstream.upstream, "closed_at_start")
            raise
        except TimeoutError:
            metrics.upstream_fault(self.upstream.upstream, "no_first_event")
            raise UpstreamError(
                f"{self.upstream_title} sent nothing for {FIRST_EVENT_TIMEOUT_S:.0f} s after connecting."
            ) from None
        await run_on_recorder_thread(
            session_state.session_go_live, session_id=self.session_id, relay_channel=self.channel
        )
        lease.keeper_for_loop().add(self)
        for kind, data in notices or []:
            self._emit("playground", kind, data)
        self._emit_server(first)
        try:
            for text in initial_events:
                await self._forward(text)
        except UpstreamError:
            metrics.upstream_fault(self.upstream.upstream, "closed_at_start")
            # The upstream closed right after its first event: the caller answers 502 in words and
            # marks the session failed; nothing of this relay may stay registered.
            lease.keeper_for_loop().remove(self)
            self._recorder.forget(self.session_id)
            raise
        # The publisher last: _supervise stops the others first, then lets it send the end notice.
        for coro in (self._read_upstream(), self._serve_channel(), self._watch_stall(), self._publish()):
            task = asyncio.create_task(coro)
            task.add_done_callback(self._task_done)
            self._tasks.append(task)
        main = asyncio.create_task(self._supervise(), name=f"relay {self.session_id}")
        _running.add(main)
        main.add_done_callback(_running.discard)

    async def _supervise(self) -> None:
        try:
            await self._ended.wait()
        except asyncio.CancelledError:
            # The process is stopping: leave nothing running; the lease marks the session later.
            lease.keeper_for_loop().remove(self)
            for task in self._tasks:
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
            await self._close_upstream()
            raise
        if self._lease_lost:
            await self._end_without_lease()
            return
        state, reason, kind = self._end or (SessionState.ENDED, "Ended.", "session_ended")
        # Reader, channel server, stall watch and canned answers: nothing more comes in or goes out.
        for task in [*self._tasks[:-1], *self._canned_tasks]:
            task.cancel()
        await asyncio.gather(*self._tasks[:-1], *self._canned_tasks, return_exceptions=True)
        await self._close_upstream()
        notice = self._emit(
            "playground", kind, notice_data(kind=kind, message=reason, state=str(state)), publish=False, record=False
        )
        # Everything before the notice is recorded; then the notice and the final state, together.
        await self._wait_until(lambda: self._recorded_seq >= notice.seq - 1)
        lease.keeper_for_loop().remove(self)
        finished = await run_on_recorder_thread(
            session_state.session_finish,
            session_id=self.session_id,
            relay_channel=self.channel,
            state=state,
            reason=reason,
            notice=notice,
        )
        self._on_recorded(notice.seq)
        if not finished:  # the sweeper ended it first and recorded why: our notice is not the truth
            self._lease_lost = True
            await self._end_without_lease()
            return
        # Its usage to the last event (audio no response followed too), before anyone learns it ended.
        await usage_live.session_ended(self.session_id)
        # Published only once the recording and the state are written: whoever
        # reads the session after this notice sees it ended and complete.
        self._to_publish.append(notice)
        self._schedule_publish()
        await self._wait_until(lambda: self._published_seq >= notice.seq)
        drain = getattr(self.layer, "drain", None)
        if drain is not None:  # a batching layer (Redis): the notice is out before the ack and the end
            await drain()
        # Its audio's open chunks sealed and its rows packed (off everyone's path: the notice is out).
        await run_on_recorder_thread(recorder.recording_close, session_id=self.session_id)
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._recorder.forget(self.session_id)
        if self._close_request is not None:
            await self._reply(self._close_request, messages.ack(seq=notice.seq))
        log.info("relay %s ended: %s (%s)", self.session_id, state, reason)

    async def _close_upstream(self) -> None:
        # Never let a failing close (websockets on an already lost transport) keep the session half alive.
        try:
            await self.upstream.close()
        except Exception:
            log.exception("relay %s: closing the upstream failed", self.session_id)

    def lease_lost(self) -> None:
        """The sweeper ended this session (the lease went stale: this worker was too slow to renew it):
        stop at once, writing nothing more; the recording already says why it ended."""
        self._lease_lost = True
        self._stop(SessionState.INTERRUPTED, "The relay lost its lease.", "worker_lost")

    async def _end_without_lease(self) -> None:
        log.warning("relay %s: lost its lease (its heartbeat went stale); stopping", self.session_id)
        lease.keeper_for_loop().remove(self)
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._close_upstream()
        self._recorder.forget(self.session_id)
        if self._close_request is not None:
            await self._reply(self._close_request, messages.error(message="The session was already interrupted."))

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        # A relay task that dies of a bug must end the session in words, not leave it half alive.
        if task.cancelled() or task.exception() is None:
            return
        exc = task.exception()
        log.error("relay %s: task %s failed", self.session_id, task.get_coro(), exc_info=exc)
        self._stop(SessionState.INTERRUPTED, f"The relay failed: {exc!r}", "relay_failed")

    def _stop(self, state: str, reason: str, kind: str) -> None:
        if self._end is None:
            self._end = (state, reason, kind)
            self._ended.set()

    # --- events in and out ----------------------------------------------------

    def _emit(self, direction: str, type_: str, data: str, *, publish: bool = True, record: bool = True) -> Frame:
        self.seq += 1
        frame = Frame(seq=self.seq, direction=direction, ts=time.time(), type=type_, data=data)
        if publish:
            self._to_publish.append(frame)
            self._schedule_publish()
        if record:
            self._recorder.add(self.session_id, frame, self._on_recorded)
        return frame

    def _on_recorded(self, seq: int) -> None:
        self._recorded_seq = max(self._recorded_seq, seq)
        self._progress.set()
        if self._recorded_seq >= self.seq > self._tailed_seq and self._tail_timer is None:
            self._tail_timer = asyncio.get_running_loop().call_later(TAIL_S, self._tail)

    def _tail(self) -> None:
        """Quiet for TAIL_S with everything recorded: the relay's seq to the group, as a `synced`.

        A watcher learns of frames a channel layer dropped from the seq of the next batch, but a dropped
        *last* batch (a failed publish to Redis, a lossy layer) has no next one: the watcher would wait
        for a response.done it never gets. With this it fills the rest from the recording (a watcher that
        has everything does nothing). In a steady stream the timer finds newer frames and sends nothing."""
        self._tail_timer = None
        seq = self.seq
        if self._ended.is_set() or seq > self._recorded_seq or seq <= self._tailed_seq:
            return  # ending, or more came meanwhile: their recording sets the next timer
        self._tailed_seq = seq
        if self._send_nowait is not None:
            self._send_nowait(self.group, messages.synced(seq=seq))
            return
        send = asyncio.ensure_future(self._tail_send(seq))
        self._tail_sends.add(send)
        send.add_done_callback(self._tail_sends.discard)

    async def _tail_send(self, seq: int) -> None:
        try:
            await self.layer.group_send(self.group, messages.synced(seq=seq))
        except Exception:  # the layer is down: watchers learn the seq from the next frames, as before
            log.warning("relay %s: could not tell watchers its seq %d", self.session_id, seq, exc_info=True)

    def _emit_server(self, text: str | bytes) -> None:
        self._heard_at = time.monotonic()
        if isinstance(text, bytes):
            self._emit_malformed(text, "a binary frame; the realtime protocol is JSON text")
            return
        try:
            event = json.loads(text)
        except ValueError:
            self._emit_malformed(text, "a frame that is not JSON")
            return
        type_ = event.get("type") if isinstance(event, dict) else None
        if not isinstance(type_, str):
            self._emit_malformed(text, 'JSON without a "type": not a realtime event')
            return
        if not (0 < len(type_) <= 100 and type_.isascii() and type_.isprintable()):
            # It would go into the recording's type column (100 characters; a NUL or a lone surrogate
            # fails the write, and a failed write is retried forever) and into SSE's `event:` line.
            self._emit_malformed(text, 'an event whose "type" is not a plain name')
            return
        self._emit("server", type_, text)
        metrics.relay_event("server", type_)
        if type_ in _RESPONSE_EVENTS:
            self._follow_response(type_)
        if self.canned is not None and type_ == "response.done":
            answers = self.canned.answers(event)
            if answers:
                task = asyncio.create_task(self._send_all(answers))
                self._canned_tasks.add(task)
                task.add_done_callback(self._canned_tasks.discard)

    def _emit_malformed(self, raw: str | bytes, what: str) -> None:
        """Kept, not dropped: the frame goes into a notice (the session goes on), so the recording shows it."""
        extra: dict[str, Any]
        text = raw
        if isinstance(raw, bytes):
            extra = {"bytes": len(raw)}
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError:
                kept = raw[: MALFORMED_KEEP_CHARS * 3 // 4]
                extra["raw_base64"] = base64.b64encode(kept).decode()
                extra["truncated"] = len(kept) < len(raw)
                text = ""
        else:
            extra = {"chars": len(raw)}
        if isinstance(text, str) and text:
            extra["raw"] = text[:MALFORMED_KEEP_CHARS]
            extra["truncated"] = len(text) > MALFORMED_KEEP_CHARS
        metrics.upstream_fault(self.upstream.upstream, "malformed_frame")
        message = f"{self.upstream_title} sent {what}. It is kept here, and the session goes on."
        self._emit("playground", "malformed_frame", notice_data(kind="malformed_frame", message=message, **extra))

    def _follow_response(self, type_: str) -> None:
        if type_ == "response.created":
            self._responses_asked = max(0, self._responses_asked - 1)
            self._responses_running += 1
            self._created_at = time.time()
        elif type_ == "response.done":
            self._responses_running = max(0, self._responses_running - 1)
        elif self._responses_asked:  # an error while a response.create is unanswered: most likely its refusal
            self._responses_asked -= 1
        if self._end_after_response is not None and type_ == "response.done":
            self._stop(*self._end_after_response)  # anything asked for since is cut: it never started for real

    async def _watch_stall(self) -> None:
        """While a response is asked for or running: a notice after PLAYGROUND_UPSTREAM_STALL_S without
        any event from the upstream, and the session interrupted (resumable) after twice that."""
        limit = float(settings.PLAYGROUND_UPSTREAM_STALL_S)
        if limit <= 0:
            return
        noticed = -1.0  # the start of the silence already noticed
        while True:
            if not (self._responses_asked or self._responses_running):
                await asyncio.sleep(limit)  # idle: a silent upstream is expected
                continue
            now = time.monotonic()
            quiet_since = max(self._heard_at, self._asked_at)
            silent = now - quiet_since
            if silent >= 2 * limit:
                metrics.upstream_fault(self.upstream.upstream, "stalled")
                self._stop(
                    SessionState.INTERRUPTED,
                    f"No events from {self.upstream_title} for {silent:.0f} s while a response was in progress: "
                    "the playground closed the connection. Resume the session to go on.",
                    "upstream_stalled",
                )
                return
            if silent >= limit and noticed != quiet_since:
                noticed = quiet_since
                metrics.upstream_fault(self.upstream.upstream, "silent")
                message = (
                    f"No events from {self.upstream_title} for {limit:g} s while a response is in progress. "
                    f"The playground waits {limit:g} s more, then interrupts the session (it can be resumed)."
                )
                self._emit("playground", "upstream_silent", notice_data(kind="upstream_silent", message=message))
            await asyncio.sleep(max(0.01, quiet_since + (2 if silent >= limit else 1) * limit - now))

    async def _send_all(self, texts: list[str]) -> None:
        try:
            for text in texts:
                await self._forward(text)
        except UpstreamError as exc:  # the upstream went away meanwhile: the reader reports it
            log.info("relay %s: canned answer not sent: %s", self.session_id, exc)

    async def _read_upstream(self) -> None:
        try:
            while True:
                self._emit_server(await self.upstream.recv())
        except UpstreamClosed as exc:
            if exc.fault is not None:
                metrics.upstream_fault(self.upstream.upstream, exc.fault)
            self._stop(_closed_state(exc), exc.message, "upstream_closed")
        except UpstreamError as exc:
            metrics.upstream_fault(self.upstream.upstream, "lost")
            self._stop(SessionState.INTERRUPTED, exc.message, "upstream_failed")
        except Exception as exc:
            log.exception("relay %s: reading upstream failed", self.session_id)
            self._stop(
                SessionState.INTERRUPTED, f"The relay failed reading from {self.upstream_title}: {exc}", "relay_failed"
            )

    async def _forward(self, text: str) -> int:
        """Send one validated client event upstream; returns its seq."""
        type_ = json.loads(text)["type"]
        # Numbered before the await: the upstream's answer can never get a lower seq.
        frame = self._emit("client", type_, text)
        metrics.relay_event("client", type_)
        if type_ == "response.create":
            self._responses_asked += 1
            self._asked_at = time.monotonic()
        await self.upstream.send(text)
        return frame.seq

    async def _serve_channel(self) -> None:
        handlers: dict[str, Callable[[Any], Awaitable[None]]] = {
            messages.CLIENT_EVENT: self._on_client_event,
            messages.SYNC: self._on_sync,
            messages.CLOSE: self._on_close,
            messages.NOTICE: self._on_notice,
        }
        while True:
            message = await self.layer.receive(self.channel)
            handler = handlers.get(message.get("type", ""))
            if handler is None:
                log.warning("relay %s: unknown message %r", self.session_id, message.get("type"))
                continue
            try:
                await handler(message)
            except UpstreamError as exc:
                await self._reply(message, messages.error(message=exc.message))
                self._stop(SessionState.INTERRUPTED, exc.message, "upstream_closed")

    async def _on_client_event(self, message: messages.ClientEventMessage) -> None:
        seq = await self._forward(message["text"])
        await self._reply(message, messages.ack(seq=seq))

    async def _on_sync(self, message: messages.SyncMessage) -> None:
        await self._reply(message, messages.synced(seq=self.seq))

    async def _on_close(self, message: messages.CloseMessage) -> None:
        # Answered by _supervise once the session is fully recorded and marked ended.
        if message.get("reply_channel"):  # a close nobody waits for (a budget's) never takes a caller's ack
            self._close_request = message
        end = (
            SessionState.ENDED,
            message.get("reason") or "Closed by the user.",
            message.get("kind") or "session_closed",
        )
        # "After the current response": the one running since before the budget ran out (`ran_out_at`, the
        # recorded time of the response that used it up) ends first; one started since is cut.
        ran_out_at = message.get("ran_out_at")
        if ran_out_at is not None and self._responses_running and self._created_at <= ran_out_at:
            self._end_after_response = end  # _follow_response ends it at that response's response.done
            return
        self._stop(*end)

    async def _on_notice(self, message: messages.NoticeMessage) -> None:
        self._emit("playground", message["kind"], message["data"])

    async def _reply(self, message: messages.RelayRequest, answer: messages.RelayAnswer) -> None:
        reply_to = message.get("reply_channel")
        if reply_to:
            answer["request_id"] = message.get("request_id")
            await self.layer.send(reply_to, answer)

    # --- batching -------------------------------------------------------------

    def _schedule_publish(self) -> None:
        # After everything already runnable in this loop round (the rest of a burst being
        # read off the socket): not a timer, a lone event still goes out at once.
        if not self._flush_scheduled:
            self._flush_scheduled = True
            asyncio.get_running_loop().call_soon(self._flush)

    def _flush(self) -> None:
        self._flush_scheduled = False
        if self._send_nowait is None or self._publishing:
            self._publish_ready.set()  # an async layer (Redis): the publisher task sends
            return
        frames, self._to_publish = self._to_publish, []
        if frames:
            self._send_nowait(self.group, messages.frames(frames))
            self._published_seq = frames[-1].seq
            self._progress.set()

    async def _publish(self) -> None:
        """For layers whose send must be awaited: whatever piled up during a send goes next, as one."""
        while True:
            await self._publish_ready.wait()
            self._publish_ready.clear()
            self._publishing = True
            try:
                while self._to_publish:
                    frames, self._to_publish = self._to_publish, []
                    await self.layer.group_send(self.group, messages.frames(frames))
                    self._published_seq = frames[-1].seq
                    self._progress.set()
            finally:
                self._publishing = False

    async def _wait_until(self, done: Callable[[], bool]) -> None:
        while not done():
            self._progress.clear()
            await self._progress.wait()


def _closed_state(exc: UpstreamClosed) -> str:
    # A clean close (1000, 1001) ends the session; anything else interrupts it (it can be resumed).
    return SessionState.ENDED if exc.clean else SessionState.INTERRUPTED


async def relays_shutdown() -> None:
    """Cancel this process's relays and close the recorder's database connection (tests, shutdown)."""
    tasks = list(_running)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    await lease.lease_tasks_stop()
    await recorder_for_loop().stop()
    await run_on_recorder_thread(recorder.close_connections)
