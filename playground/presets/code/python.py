"""The Python scripts of "view code": `openai` (the official SDK) and `websockets`, straight to Yandex."""

from __future__ import annotations

from typing import Any

from .literals import MAX_TOOL_ROUNDS, YANDEX_BASE_URL, YANDEX_MODEL, fill, literal, py_str

_PY_HEADER = '''\
#!/usr/bin/env python3
# Preset "__TITLE__" on the Yandex AI Studio Realtime API, __VIA__.
#
#   pip install __REQUIREMENT__
#   export YC_API_KEY=...      # or YC_IAM_TOKEN=... (an IAM token)
#   export YC_FOLDER_ID=...    # the folder of the model URI gpt://<folder>/speech-realtime-250923
#   python3 __FILENAME__
#
# It sends the session config and, once the server has taken it, the opening conversation and
# response.create; prints the answer as it streams, answers function calls with the preset's canned
# outputs, and exits after the last response (non-zero on an error event).
# REALTIME_BASE_URL and REALTIME_MODEL (a model name or a full gpt:// URI) override the defaults.

import asyncio
import base64
import json
import os
import sys
__IMPORTS__

BASE_URL = os.environ.get("REALTIME_BASE_URL", __BASE_URL__)
MODEL = os.environ.get("REALTIME_MODEL", __MODEL__)
MAX_TOOL_ROUNDS = __MAX_TOOL_ROUNDS__  # answer at most this many rounds of function calls in a row

# The preset: the session config, the opening conversation, overrides for response.create (or None),
# and per tool name the output answered when the model calls that tool.
SESSION = __SESSION__
CONVERSATION = __CONVERSATION__
RESPONSE = __RESPONSE__
TOOL_OUTPUTS = __TOOL_OUTPUTS__


def model_uri() -> str:
    if MODEL.startswith("gpt://"):
        return MODEL
    folder = os.environ.get("YC_FOLDER_ID")
    if not folder:
        sys.exit("Set YC_FOLDER_ID (or REALTIME_MODEL to a full gpt:// model URI).")
    return f"gpt://{folder}/{MODEL}"


def authorization() -> str:
    if api_key := os.environ.get("YC_API_KEY"):
        return f"Api-Key {api_key}"
    if iam_token := os.environ.get("YC_IAM_TOKEN"):
        return f"Bearer {iam_token}"
    sys.exit("Set YC_API_KEY (or YC_IAM_TOKEN).")


def tool_output(name: str) -> str:
    return TOOL_OUTPUTS.get(name, json.dumps({"error": f"no canned output for {name}"}))


def output_rate(session: dict, default: int) -> int:
    """The output sample rate the server announced (Yandex may use 44100 Hz whatever was asked)."""
    audio_format = ((session.get("audio") or {}).get("output") or {}).get("format") or {}
    return int(audio_format.get("rate") or default)


def show_item(item: dict) -> None:
    texts = [part.get("text") or part.get("transcript") or "" for part in item.get("content") or []]
    if item.get("type") == "message":
        print(f"{item['role']}: {' '.join(t for t in texts if t)}")
    else:
        print(f"[{item['type']}] {json.dumps(item, ensure_ascii=False)}")
'''

_WEBSOCKETS_MAIN = """

async def main() -> int:
    url = f"{BASE_URL.rstrip('/')}/realtime?" + urlencode({"model": model_uri()}, safe=":/")
    headers = {"Authorization": authorization()}
    response_create = {"type": "response.create", **({"response": RESPONSE} if RESPONSE else {})}
    configured, rate, audio_bytes, rounds = False, 44100, 0, 0

    async with connect(url, additional_headers=headers, max_size=None) as ws:

        async def send(event: dict) -> None:
            await ws.send(json.dumps(event, ensure_ascii=False))

        await send({"type": "session.update", "session": SESSION})
        async for message in ws:
            event = json.loads(message)
            kind = event["type"]
            if kind == "error":
                print(f"\\nerror: {json.dumps(event['error'], ensure_ascii=False)}", file=sys.stderr)
                return 1
            if kind == "session.updated" and not configured:
                # The server took the config: now the opening conversation and the first response.
                configured, rate = True, output_rate(event["session"], rate)
                for item in CONVERSATION:
                    show_item(item)
                    await send({"type": "conversation.item.create", "item": item})
                await send(response_create)
            elif kind == "response.output_item.added" and event["item"]["type"] == "message":
                print("assistant: ", end="", flush=True)
            elif kind in ("response.output_text.delta", "response.output_audio_transcript.delta"):
                print(event["delta"], end="", flush=True)
            elif kind == "response.output_audio.delta":
                audio_bytes += len(base64.b64decode(event["delta"]))  # PCM16 mono: count it, don't play it
            elif kind == "response.output_item.done":
                item = event["item"]
                if item["type"] == "message":
                    print()
                elif item["type"] == "function_call":
                    print(f"[function call] {item['name']}({item['arguments']})")
            elif kind == "response.done":
                response = event["response"]
                if audio_bytes:
                    seconds = audio_bytes / 2 / rate
                    print(f"[audio] {audio_bytes} bytes of PCM16 at {rate} Hz ({seconds:.2f} s), not played")
                    audio_bytes = 0
                if response["status"] != "completed":
                    print(f"[response {response['status']}] {json.dumps(response.get('status_details'))}")
                if response["status"] == "failed":
                    return 1
                calls = [item for item in response.get("output") or [] if item["type"] == "function_call"]
                if not calls or rounds >= MAX_TOOL_ROUNDS:
                    return 0
                # Answer each call with the canned output, then ask for the next response.
                rounds += 1
                for call in calls:
                    output = tool_output(call["name"])
                    print(f"[function output] {call['name']} -> {output}")
                    item = {"type": "function_call_output", "call_id": call["call_id"], "output": output}
                    await send({"type": "conversation.item.create", "item": item})
                await send(response_create)

    print("The server closed the connection before the response was done.", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
"""

_OPENAI_MAIN = """

async def main() -> int:
    # The SDK's own "Bearer <api_key>" is replaced by Yandex's header, given explicitly.
    client = AsyncOpenAI(api_key="unused", websocket_base_url=BASE_URL)
    headers = {"Authorization": authorization()}
    response_overrides = {"response": RESPONSE} if RESPONSE else {}
    configured, rate, audio_bytes, rounds = False, 44100, 0, 0

    async with client.realtime.connect(model=model_uri(), extra_headers=headers) as connection:
        await connection.session.update(session=SESSION)
        async for event in connection:
            if event.type == "error":
                print(f"\\nerror: {event.error.message} ({event.error.code})", file=sys.stderr)
                return 1
            if event.type == "session.updated" and not configured:
                # The server took the config: now the opening conversation and the first response.
                configured, rate = True, output_rate(event.session.to_dict(warnings=False), rate)
                for item in CONVERSATION:
                    show_item(item)
                    await connection.conversation.item.create(item=item)
                await connection.response.create(**response_overrides)
            elif event.type == "response.output_item.added" and event.item.type == "message":
                print("assistant: ", end="", flush=True)
            elif event.type in ("response.output_text.delta", "response.output_audio_transcript.delta"):
                print(event.delta, end="", flush=True)
            elif event.type == "response.output_audio.delta":
                audio_bytes += len(base64.b64decode(event.delta))  # PCM16 mono: count it, don't play it
            elif event.type == "response.output_item.done":
                if event.item.type == "message":
                    print()
                elif event.item.type == "function_call":
                    print(f"[function call] {event.item.name}({event.item.arguments})")
            elif event.type == "response.done":
                response = event.response
                if audio_bytes:
                    seconds = audio_bytes / 2 / rate
                    print(f"[audio] {audio_bytes} bytes of PCM16 at {rate} Hz ({seconds:.2f} s), not played")
                    audio_bytes = 0
                if response.status != "completed":
                    details = response.status_details.model_dump() if response.status_details else None
                    print(f"[response {response.status}] {json.dumps(details)}")
                if response.status == "failed":
                    return 1
                calls = [item for item in response.output or [] if item.type == "function_call"]
                if not calls or rounds >= MAX_TOOL_ROUNDS:
                    return 0
                # Answer each call with the canned output, then ask for the next response.
                rounds += 1
                for call in calls:
                    output = tool_output(call.name)
                    print(f"[function output] {call.name} -> {output}")
                    await connection.conversation.item.create(
                        item={"type": "function_call_output", "call_id": call.call_id, "output": output}
                    )
                await connection.response.create(**response_overrides)

    print("The server closed the connection before the response was done.", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
"""


def python_script(
    *,
    lang: str,
    title: str,
    filename: str,
    session: dict[str, Any],
    response: dict[str, Any] | None,
    conversation: list[dict[str, Any]],
    tool_outputs: dict[str, str],
) -> str:
    if lang == "openai":
        via = "with the official openai SDK"
        requirement = '"openai[realtime]"'
        imports = "\nfrom openai import AsyncOpenAI"
        main = _OPENAI_MAIN
    else:
        via = "with the websockets library"
        requirement = '"websockets>=14"'
        imports = "from urllib.parse import urlencode\n\nfrom websockets.asyncio.client import connect"
        main = _WEBSOCKETS_MAIN
    return (
        fill(
            _PY_HEADER,
            {
                "TITLE": title,
                "VIA": via,
                "REQUIREMENT": requirement,
                "FILENAME": filename,
                "IMPORTS": imports,
                "BASE_URL": py_str(YANDEX_BASE_URL),
                "MODEL": py_str(YANDEX_MODEL),
                "MAX_TOOL_ROUNDS": str(MAX_TOOL_ROUNDS),
                "SESSION": literal(session, python=True, used=len("SESSION = ")),
                "CONVERSATION": literal(conversation, python=True, used=len("CONVERSATION = ")),
                "RESPONSE": literal(response, python=True, used=len("RESPONSE = ")),
                "TOOL_OUTPUTS": literal(tool_outputs, python=True, used=len("TOOL_OUTPUTS = ")),
            },
        )
        + main
    )
