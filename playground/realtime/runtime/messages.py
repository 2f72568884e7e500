"""Every channel-layer message the relay sends or receives, typed, with one builder each.

A relay is reached only through the channel layer (its own channel, `RealtimeSession.relay_channel`),
so these dicts are the relay's whole interface: REST calls, sockets and the lease sweeper on any
worker build them here, and the relay and the consumers read them by these types. Channels routes
a message to the consumer method named after its type (`relay.frames` → `relay_frames`).

To the relay (each may carry `reply_channel` and `request_id`; the answer echoes `request_id`):
- `relay.client_event`: forward one validated client event (`text`, its wire JSON); answered
  `relay.ack` with the event's seq, or `relay.error` in words;
- `relay.sync`: answered `relay.synced` with the relay's current seq;
- `relay.close`: end the session (`reason`; `kind` names the end notice, `session_closed` unless said,
  `budget_exceeded` from usage's budgets; with `ran_out_at`, a time.time(): after the running response if it
  started before then, else now); answered `relay.ack` once it is recorded and ended;
- `relay.notice`: record and publish a notice of the playground's own (`kind`, its JSON `data`), e.g. a
  budget's alert; not answered.

From the relay, to the session's group:
- `relay.frames`: a batch of frames `first`..`last` as one JSON array (`text`); `lease_notice`
  marks the sweeper's notice about a dead worker's session.
"""

from __future__ import annotations

from typing import Literal, NotRequired, TypedDict

from .frames import Frame, frames_text

CLIENT_EVENT: Literal["relay.client_event"] = "relay.client_event"
SYNC: Literal["relay.sync"] = "relay.sync"
CLOSE: Literal["relay.close"] = "relay.close"
NOTICE: Literal["relay.notice"] = "relay.notice"
FRAMES: Literal["relay.frames"] = "relay.frames"
ACK: Literal["relay.ack"] = "relay.ack"
SYNCED: Literal["relay.synced"] = "relay.synced"
ERROR: Literal["relay.error"] = "relay.error"


class ClientEventMessage(TypedDict):
    type: Literal["relay.client_event"]
    text: str
    reply_channel: NotRequired[str]
    request_id: NotRequired[str]


class SyncMessage(TypedDict):
    type: Literal["relay.sync"]
    reply_channel: NotRequired[str]
    request_id: NotRequired[str]


class CloseMessage(TypedDict):
    type: Literal["relay.close"]
    reason: str
    kind: NotRequired[str]
    ran_out_at: NotRequired[float]
    reply_channel: NotRequired[str]
    request_id: NotRequired[str]


class NoticeMessage(TypedDict):
    type: Literal["relay.notice"]
    kind: str
    data: str


class FramesMessage(TypedDict):
    type: Literal["relay.frames"]
    first: int
    last: int
    text: str
    ts: float  # when the relay numbered the batch's first frame: a watcher's delivery lag is measured from it
    lease_notice: NotRequired[bool]


class AckMessage(TypedDict):
    type: Literal["relay.ack"]
    seq: int
    request_id: NotRequired[str | None]


class SyncedMessage(TypedDict):
    type: Literal["relay.synced"]
    seq: int
    request_id: NotRequired[str | None]


class ErrorMessage(TypedDict):
    type: Literal["relay.error"]
    message: str
    request_id: NotRequired[str | None]


RelayRequest = ClientEventMessage | SyncMessage | CloseMessage
RelayAnswer = AckMessage | SyncedMessage | ErrorMessage


def client_event(*, text: str, reply_channel: str | None = None) -> ClientEventMessage:
    message: ClientEventMessage = {"type": CLIENT_EVENT, "text": text}
    if reply_channel:
        message["reply_channel"] = reply_channel
    return message


def sync(*, reply_channel: str | None = None) -> SyncMessage:
    message: SyncMessage = {"type": SYNC}
    if reply_channel:
        message["reply_channel"] = reply_channel
    return message


def close(*, reason: str, kind: str | None = None, ran_out_at: float | None = None) -> CloseMessage:
    message: CloseMessage = {"type": CLOSE, "reason": reason}
    if kind:
        message["kind"] = kind
    if ran_out_at is not None:
        message["ran_out_at"] = ran_out_at
    return message


def notice(*, kind: str, data: str) -> NoticeMessage:
    return {"type": NOTICE, "kind": kind, "data": data}


def frames(batch: list[Frame], *, lease_notice: bool = False) -> FramesMessage:
    message: FramesMessage = {
        "type": FRAMES,
        "first": batch[0].seq,
        "last": batch[-1].seq,
        "text": frames_text(batch),
        "ts": batch[0].ts,
    }
    if lease_notice:
        message["lease_notice"] = True
    return message


def ack(*, seq: int) -> AckMessage:
    return {"type": ACK, "seq": seq}


def synced(*, seq: int) -> SyncedMessage:
    return {"type": SYNCED, "seq": seq}


def error(*, message: str) -> ErrorMessage:
    return {"type": ERROR, "message": message}
