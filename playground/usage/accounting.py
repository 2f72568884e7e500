"""A recording's events turned into usage figures: pure code, no database (services.py reads and writes).

Events are read in seq order from a cursor (the last seq already accounted). Each `response.done` closes
one figure: its `usage` (tokens in and out, text and audio, cached) and the audio both ways since the
previous figure, each event's audio in seconds at its side's format at that moment (the last
session.created/updated before it). Audio is counted with the response.done that follows it: input
audio is what the answer heard, output deltas are the answer's own, and with responses that overlap
(rare) each second is still counted exactly once. Audio after the last response.done is a session's
tail, closed when the session ends.

The cost is the console's estimate (static/playground/figures.js): text tokens in and out per 1,000
(cached ones are input tokens, priced as such) plus audio seconds in and out, with PLAYGROUND_PRICES.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from .audio import SESSION_TYPES, Format, event_audio, side_format

log = logging.getLogger(__name__)

SIX_PLACES = Decimal("0.000001")
PRICE_KEYS = ("textInputPer1kTokens", "textOutputPer1kTokens", "audioInputPerSecond", "audioOutputPerSecond")
TOKEN_FIELDS = (
    "input_tokens",
    "input_text_tokens",
    "input_audio_tokens",
    "cached_tokens",
    "output_tokens",
    "output_text_tokens",
    "output_audio_tokens",
)


@dataclass(slots=True)
class Figure:
    """One usage record before it is stored: a response, or a session's tail (response_id "")."""

    first_seq: int
    seq: int
    ts: float
    response_id: str = ""
    status: str = ""
    tokens: dict[str, int] = field(default_factory=dict)
    audio_in_seconds: float = 0.0
    audio_out_seconds: float = 0.0

    def cost(self, prices: dict[str, Any]) -> Decimal:
        return estimated_cost(
            text_in=self.tokens.get("input_text_tokens", 0),
            text_out=self.tokens.get("output_text_tokens", 0),
            audio_in_seconds=self.audio_in_seconds,
            audio_out_seconds=self.audio_out_seconds,
            prices=prices,
        )


def _count(value: Any) -> int:
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) and value > 0 else 0


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def tokens_of(usage: Any) -> dict[str, int]:
    """The token counts of a response.done's `usage` (OpenAI GA shape); missing parts count 0.

    Text tokens default to the whole count when the details are missing, as the console does."""
    if not isinstance(usage, dict):
        return dict.fromkeys(TOKEN_FIELDS, 0)
    details_in = _dict(usage.get("input_token_details"))
    details_out = _dict(usage.get("output_token_details"))
    total_in, total_out = _count(usage.get("input_tokens")), _count(usage.get("output_tokens"))
    return {
        "input_tokens": total_in,
        "input_text_tokens": _count(details_in.get("text_tokens")) if "text_tokens" in details_in else total_in,
        "input_audio_tokens": _count(details_in.get("audio_tokens")),
        "cached_tokens": _count(details_in.get("cached_tokens")),
        "output_tokens": total_out,
        "output_text_tokens": _count(details_out.get("text_tokens")) if "text_tokens" in details_out else total_out,
        "output_audio_tokens": _count(details_out.get("audio_tokens")),
    }


def _price(prices: dict[str, Any], key: str) -> Decimal:
    try:
        return Decimal(str(prices.get(key, 0)))
    except (InvalidOperation, ValueError):
        return Decimal(0)


def estimated_cost(
    *, text_in: int, text_out: int, audio_in_seconds: float, audio_out_seconds: float, prices: dict[str, Any]
) -> Decimal:
    cost = (
        Decimal(text_in) / 1000 * _price(prices, "textInputPer1kTokens")
        + Decimal(text_out) / 1000 * _price(prices, "textOutputPer1kTokens")
        + Decimal(str(audio_in_seconds)) * _price(prices, "audioInputPerSecond")
        + Decimal(str(audio_out_seconds)) * _price(prices, "audioOutputPerSecond")
    )
    return cost.quantize(SIX_PLACES, rounding=ROUND_HALF_UP)


class Tally:
    """Walks a recording's events from a cursor; `feed` answers a Figure at each response.done."""

    def __init__(self, *, after: int, fmt_in: Format, fmt_out: Format) -> None:
        self.first_seq = after + 1
        self.fmt_in, self.fmt_out = fmt_in, fmt_out
        self.audio_in = self.audio_out = 0.0
        self.last_seq, self.last_ts = after, 0.0

    def feed(self, seq: int, direction: str, ts: float, type_: str, data: str) -> Figure | None:
        self.last_seq, self.last_ts = seq, ts
        if direction == "playground":
            return None
        try:
            event = json.loads(data)
        except ValueError:  # the relay records only JSON events; a row that is not is skipped, not fatal
            log.warning("usage: event %s of type %s is not JSON; skipped", seq, type_)
            return None
        if not isinstance(event, dict):
            return None
        if direction == "server" and type_ in SESSION_TYPES:
            session = event.get("session")
            if isinstance(session, dict):
                self.fmt_in = side_format(session, "input", self.fmt_in)
                self.fmt_out = side_format(session, "output", self.fmt_out)
            return None
        if direction == "server" and type_ == "response.done":
            response = _dict(event.get("response"))
            figure = Figure(
                first_seq=self.first_seq,
                seq=seq,
                ts=ts,
                response_id=str(response.get("id") or "")[:100],
                status=str(response.get("status") or "")[:20],
                tokens=tokens_of(response.get("usage")),
                audio_in_seconds=self.audio_in,
                audio_out_seconds=self.audio_out,
            )
            self.first_seq, self.audio_in, self.audio_out = seq + 1, 0.0, 0.0
            return figure
        n_in, n_out = event_audio(direction, type_, event)
        self.audio_in += self.fmt_in.seconds(n_in)
        self.audio_out += self.fmt_out.seconds(n_out)
        return None

    def tail(self, *, last_seq: int, last_ts: float, always: bool) -> Figure | None:
        """What is left after the last response.done, up to the recording's last seq: its audio (or, with
        `always`, nothing at all, so a session that never answered still counts as a session)."""
        if last_seq < self.first_seq or not (always or self.audio_in or self.audio_out):
            return None
        return Figure(
            first_seq=self.first_seq,
            seq=last_seq,
            ts=last_ts or self.last_ts,
            tokens=dict.fromkeys(TOKEN_FIELDS, 0),
            audio_in_seconds=self.audio_in,
            audio_out_seconds=self.audio_out,
        )


def tally_events(
    rows: Iterable[tuple[int, str, float, str, str]], *, after: int, fmt_in: Format, fmt_out: Format
) -> tuple[list[Figure], Tally]:
    tally = Tally(after=after, fmt_in=fmt_in, fmt_out=fmt_out)
    figures = [f for f in (tally.feed(*row) for row in rows) if f is not None]
    return figures, tally
