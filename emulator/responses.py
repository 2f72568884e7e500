"""Responses: what the emulator answers, and the paced stream of a response's events."""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from websockets.exceptions import ConnectionClosed

from .conversation import Conversation, count_tokens, item_tokens, message_text
from .pcm import StoredAudio, samples_per_word, word_tone_b64
from .protocol import ClientError, Emit, Event, Ids, Json, check_type, optional, require
from .session_config import (
    DEFAULT_VOICE,
    SessionConfig,
    check_format,
    check_max_tokens,
    check_modalities,
    check_voice,
    deep_merge,
)
from .tools import check_tool_choice, check_tools, choose_tool, tool_arguments

logger = logging.getLogger(__name__)

GREETING = "Hello! This is the realtime emulator. Say something and I will repeat it."
FILLER = tuple("and the emulator keeps talking so that the stream is long enough to measure".split())  # noqa: SIM905


def split_evenly(text: str, parts: int) -> list[str]:
    size = max(1, math.ceil(len(text) / parts))
    return [text[i : i + size] for i in range(0, len(text), size)] or [""]


def stretch(words: list[str], count: int) -> list[str]:
    """Exactly `count` words: the answer, then filler words in a fixed cycle."""
    if count <= len(words):
        return words[:count]
    extra = [FILLER[i % len(FILLER)] for i in range(count - len(words))]
    return words + extra


@dataclass
class _ResponseParams:
    modalities: list[str]
    instructions: str
    tools: list[Json]
    tool_choice: Any
    max_output_tokens: int | None  # None: "inf"
    metadata: dict[str, str] | None
    in_conversation: bool
    context: list[Json]
    output_format: Json
    voice: Any
    words: int | None  # metadata.emulator_words


@dataclass
class _Plan:
    """What a response will say, decided when it is created."""

    kind: str  # "message" or "function_call"
    words: list[str] = field(default_factory=list)
    limited: bool = False  # cut by max_output_tokens
    tool_name: str = ""
    arguments: str = ""


@dataclass
class _Response:
    id: str
    params: _ResponseParams
    input_text_tokens: int
    input_audio_tokens: int
    status: str = "in_progress"
    status_details: Json | None = None
    output: list[Json] = field(default_factory=list)
    text_tokens: int = 0
    audio_samples: int = 0
    started: float = 0.0
    cancel_reason: str | None = None
    waiter: asyncio.Future[None] | None = None
    task: asyncio.Task[None] | None = None

    def cancel(self, reason: str) -> None:
        if self.cancel_reason is None:
            self.cancel_reason = reason
        # Wake the stream if it is waiting for its next paced slot.
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(None)


def _wake(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


class Responses:
    """A connection's responses: at most one in progress, its events streamed on the pace schedule."""

    def __init__(self, *, ids: Ids, config: SessionConfig, conversation: Conversation, emit: Emit, pace: float) -> None:
        self._ids = ids
        self._config = config
        self._conversation = conversation
        self._emit = emit
        self._pace = pace
        self.current: _Response | None = None
        # Every stream task, so shutdown awaits even one that is sending its last response.done.
        self.streams: set[asyncio.Task[None]] = set()

    async def on_response_create(self, event: Json) -> None:
        overrides = optional(event, "response", dict, "an object") or {}
        await self.start_response(self.response_params(overrides))

    async def on_response_cancel(self, event: Json) -> None:
        response_id = optional(event, "response_id", str, "a string")
        active = self.current
        if active is None or active.cancel_reason is not None:
            raise ClientError("response_cancel_not_active", "There is no response in progress to cancel.")
        if response_id is not None and response_id != active.id:
            raise ClientError("invalid_value", f"Response '{response_id}' is not the one in progress.", "response_id")
        active.cancel("client_cancelled")

    def response_params(self, overrides: Json) -> _ResponseParams:
        """The session's settings with the response's overrides, checked."""
        session = self._config.session
        p = "response."
        # An override that is absent or null means the session's value.
        overrides = {k: v for k, v in overrides.items() if v is not None}
        modalities = overrides.get("output_modalities", session["output_modalities"])
        tools = overrides.get("tools", session.get("tools") or [])
        metadata = optional(overrides, "metadata", dict, "an object", prefix=p)
        if metadata is not None and not all(isinstance(v, str) for v in metadata.values()):
            raise ClientError("invalid_type", "'response.metadata' values must be strings.", "response.metadata")
        conversation = overrides.get("conversation", "auto")
        if conversation not in ("auto", "none"):
            raise ClientError("invalid_value", "'response.conversation' must be auto or none.", "response.conversation")
        output = deep_merge(self._config.audio_config("output"), ((overrides.get("audio") or {}).get("output")) or {})
        check_format(output.get("format"), "response.audio.output.format", self._config.rate)
        check_voice(output.get("voice"), "response.audio.output.voice")
        tools = check_tools(tools, "response.tools")
        return _ResponseParams(
            modalities=check_modalities(modalities, "response.output_modalities"),
            instructions=check_type(
                overrides.get("instructions", session.get("instructions")) or "", str, "a string", p + "instructions"
            ),
            tools=tools,
            tool_choice=check_tool_choice(
                overrides.get("tool_choice", session.get("tool_choice", "auto")), tools, p + "tool_choice"
            ),
            max_output_tokens=check_max_tokens(
                overrides.get("max_output_tokens", session.get("max_output_tokens", "inf")), p + "max_output_tokens"
            ),
            metadata=metadata,
            in_conversation=conversation == "auto",
            context=self._response_context(overrides.get("input")),
            output_format=output.get("format") or {"type": "audio/pcm", "rate": 44100},
            voice=output.get("voice", DEFAULT_VOICE),
            words=self._emulator_words(metadata),
        )

    def _response_context(self, input_items: Any) -> list[Json]:
        """The items a response reads: the conversation, or the response's own `input`."""
        if input_items is None:
            return list(self._conversation.items)
        if not isinstance(input_items, list) or not all(isinstance(i, dict) for i in input_items):
            raise ClientError("invalid_type", "'response.input' must be a list of items.", "response.input")
        context = []
        for i, item in enumerate(input_items):
            if item.get("type") == "item_reference":
                reference = require(item, "id", str, "a string", prefix=f"response.input[{i}].")
                context.append(self._conversation.items[self._conversation.index(reference, f"response.input[{i}].id")])
            else:
                context.append(item)
        return context

    @staticmethod
    def _emulator_words(metadata: dict[str, str] | None) -> int | None:
        raw = (metadata or {}).get("emulator_words")
        if raw is None:
            return None
        if not raw.strip().isdigit() or int(raw) > 1_000_000:
            raise ClientError(
                "invalid_value",
                "'response.metadata.emulator_words' must be a whole number of words up to 1000000.",
                "response.metadata.emulator_words",
            )
        return int(raw)

    def _plan(self, params: _ResponseParams) -> _Plan:
        """Decide the answer from the conversation: deterministic by design."""
        trigger = next(
            (
                item
                for item in reversed(params.context)
                if item.get("type") == "function_call_output"
                or (item.get("type") == "message" and item.get("role") == "user")
            ),
            None,
        )
        if trigger is None:
            text = GREETING
        elif trigger["type"] == "function_call_output":
            text = f"The tool answered: {trigger.get('output', '')}."
        else:
            said = message_text(trigger)
            tool = choose_tool(params.tools, params.tool_choice, said)
            if tool is not None:
                return _Plan(kind="function_call", tool_name=tool["name"], arguments=tool_arguments(tool, said))
            text = f'You said: "{said}".'
        words = text.split()
        if params.words is not None:
            words = stretch(words, params.words)
        limit = params.max_output_tokens
        if limit is not None and len(words) > limit:
            return _Plan(kind="message", words=words[:limit], limited=True)
        return _Plan(kind="message", words=words)

    async def start_response(self, params: _ResponseParams) -> None:
        active = self.current
        if active is not None:
            if active.cancel_reason is None:
                raise ClientError(
                    "conversation_already_has_active_response",
                    f"Response '{active.id}' is still in progress: wait for response.done or cancel it.",
                )
            # It is being cancelled: its response.done goes out before the new response.created.
            if active.task is not None:
                await asyncio.wait({active.task})
        plan = self._plan(params)
        input_text = count_tokens(params.instructions) + sum(item_tokens(item) for item in params.context)
        input_audio = sum(
            self._conversation.audio[i["id"]].ms // 100
            for i in params.context
            if i.get("id") in self._conversation.audio
        )
        response = _Response(
            id=self._ids.next("resp"), params=params, input_text_tokens=input_text, input_audio_tokens=input_audio
        )
        self.current = response
        response.task = asyncio.create_task(self._stream(response, self._response_events(response, plan)))
        self.streams.add(response.task)
        response.task.add_done_callback(self.streams.discard)

    async def _stream(self, response: _Response, events: Iterator[Event]) -> None:
        """Send a response's events on the pace schedule, stopping early when it is cancelled."""
        response.started = asyncio.get_running_loop().time()
        try:
            number = 0
            # Wait, then make the next event: the generator's state changes happen right before their event is sent.
            while await self._wait_turn(response, number):
                event = next(events, None)
                if event is None:
                    return
                type_, fields = event
                if type_ == "response.done":
                    # Free the slot first: a client that sees response.done may create the next one at once.
                    self.current = None
                await self._emit(type_, **fields)
                number += 1
            self._finish(response, "cancelled", {"type": "cancelled", "reason": response.cancel_reason})
            self.current = None
            await self._emit("response.done", response=self._response_object(response))
        except ConnectionClosed:
            pass
        except Exception:
            logger.exception("emulator failed while streaming a response")
        finally:
            if self.current is response:
                self.current = None

    async def _wait_turn(self, response: _Response, number: int) -> bool:
        """Wait until event `number` is due (`number / pace` s after the start: a schedule, not a drift).

        False when the response was cancelled meanwhile.
        """
        loop = asyncio.get_running_loop()
        due = response.started + number / self._pace if self._pace > 0 else 0.0
        if due <= loop.time() or response.cancel_reason is not None:
            await asyncio.sleep(0)  # as fast as possible, but let client events (a cancel) in
        else:
            waiter: asyncio.Future[None] = loop.create_future()
            response.waiter = waiter
            timer = loop.call_at(due, _wake, waiter)
            try:
                await waiter
            finally:
                timer.cancel()
                response.waiter = None
        return response.cancel_reason is None

    def _finish(self, response: _Response, status: str, details: Json | None) -> None:
        response.status = status
        response.status_details = details
        for item in response.output:
            if item.get("status") == "in_progress":
                item["status"] = "incomplete"

    def _response_events(self, response: _Response, plan: _Plan) -> Iterator[Event]:
        """All events of one response, lazily.

        State changes sit just before the `yield` of their event: the stream sends each event as soon as it is
        made, so a cancelled response leaves exactly what the client was told.
        """
        yield "response.created", {"response": self._response_object(response)}
        if plan.kind == "function_call":
            yield from self._function_call_events(response, plan)
        else:
            yield from self._message_events(response, plan, audio="audio" in response.params.modalities)
        if plan.limited:
            self._finish(response, "incomplete", {"type": "incomplete", "reason": "max_output_tokens"})
        else:
            self._finish(response, "completed", None)
        yield "response.done", {"response": self._response_object(response)}

    def _output_item(self, response: _Response, item: Json) -> Iterator[Event]:
        """A new output item: in the response, and in the conversation unless out of band."""
        response.output.append(item)
        yield (
            "response.output_item.added",
            {"response_id": response.id, "output_index": len(response.output) - 1, "item": item},
        )
        if response.params.in_conversation:
            previous = self._conversation.insert(item)
            yield "conversation.item.added", {"previous_item_id": previous, "item": item}

    def _output_item_done(self, response: _Response, item: Json, output_index: int) -> Iterator[Event]:
        yield "response.output_item.done", {"response_id": response.id, "output_index": output_index, "item": item}
        if response.params.in_conversation and any(existing is item for existing in self._conversation.items):
            position = next(i for i, existing in enumerate(self._conversation.items) if existing is item)
            previous = self._conversation.items[position - 1]["id"] if position > 0 else None
            yield "conversation.item.done", {"previous_item_id": previous, "item": item}

    def _message_events(self, response: _Response, plan: _Plan, *, audio: bool) -> Iterator[Event]:
        item_id = self._conversation.new_item_id()
        item: Json = {
            "id": item_id,
            "object": "realtime.item",
            "type": "message",
            "status": "in_progress",
            "role": "assistant",
            "content": [],
        }
        output_index = len(response.output)
        yield from self._output_item(response, item)
        where = {"response_id": response.id, "item_id": item_id, "output_index": output_index, "content_index": 0}
        key, part_type = ("transcript", "audio") if audio else ("text", "text")
        content = {"type": "output_audio" if audio else "output_text", key: ""}
        item["content"].append(content)
        rate = int(response.params.output_format.get("rate") or 44100)
        if audio:
            self._conversation.audio[item_id] = StoredAudio(rate=rate, samples=0)
        yield "response.content_part.added", {**where, "part": {"type": part_type, key: ""}}
        for number, word in enumerate(plan.words):
            delta = word if number == len(plan.words) - 1 else word + " "
            content[key] += delta
            response.text_tokens += 1
            if audio:
                yield "response.output_audio_transcript.delta", {**where, "delta": delta}
                # ~60 ms of voice per word, sent right after the word's transcript.
                self._conversation.audio[item_id].samples += samples_per_word(rate)
                response.audio_samples += samples_per_word(rate)
                yield "response.output_audio.delta", {**where, "delta": word_tone_b64(rate)}
            else:
                yield "response.output_text.delta", {**where, "delta": delta}
        if audio:
            yield "response.output_audio.done", where
            yield "response.output_audio_transcript.done", {**where, "transcript": content[key]}
        else:
            yield "response.output_text.done", {**where, "text": content[key]}
        yield "response.content_part.done", {**where, "part": {"type": part_type, key: content[key]}}
        item["status"] = "incomplete" if plan.limited else "completed"
        yield from self._output_item_done(response, item, output_index)

    def _function_call_events(self, response: _Response, plan: _Plan) -> Iterator[Event]:
        item_id = self._conversation.new_item_id()
        call_id = self._ids.next("call")
        item: Json = {
            "id": item_id,
            "object": "realtime.item",
            "type": "function_call",
            "status": "in_progress",
            "name": plan.tool_name,
            "call_id": call_id,
            "arguments": "",
        }
        output_index = len(response.output)
        yield from self._output_item(response, item)
        where = {"response_id": response.id, "item_id": item_id, "output_index": output_index, "call_id": call_id}
        for chunk in split_evenly(plan.arguments, 3):
            item["arguments"] += chunk
            response.text_tokens += count_tokens(chunk)
            yield "response.function_call_arguments.delta", {**where, "delta": chunk}
        yield (
            "response.function_call_arguments.done",
            {**where, "name": plan.tool_name, "arguments": plan.arguments},
        )
        item["status"] = "completed"
        yield from self._output_item_done(response, item, output_index)

    def _response_object(self, response: _Response) -> Json:
        params = response.params
        done = response.status != "in_progress"
        return {
            "id": response.id,
            "object": "realtime.response",
            "status": response.status,
            "status_details": response.status_details,
            "output": response.output,
            "conversation_id": self._conversation.id if params.in_conversation else None,
            "output_modalities": params.modalities,
            "max_output_tokens": params.max_output_tokens or "inf",
            "audio": {"output": {"format": params.output_format, "voice": params.voice}},
            "metadata": params.metadata,
            "usage": self._usage(response) if done else None,
        }

    @staticmethod
    def _usage(response: _Response) -> Json:
        rate = int(response.params.output_format.get("rate") or 44100)
        # Deterministic counts: a word is a token; a token of audio is 50 ms out, 100 ms in.
        out_audio = response.audio_samples * 1000 // rate // 50
        out_text = response.text_tokens
        in_text, in_audio = response.input_text_tokens, response.input_audio_tokens
        return {
            "total_tokens": in_text + in_audio + out_text + out_audio,
            "input_tokens": in_text + in_audio,
            "output_tokens": out_text + out_audio,
            "input_token_details": {
                "text_tokens": in_text,
                "audio_tokens": in_audio,
                "image_tokens": 0,
                "cached_tokens": 0,
                "cached_tokens_details": {"text_tokens": 0, "audio_tokens": 0, "image_tokens": 0},
            },
            "output_token_details": {"text_tokens": out_text, "audio_tokens": out_audio},
        }
