"""View code for a preset: a runnable script that does what the preset sets up.

Three flavours (`CODE_LANGS`):
- `openai`: Python with the official `openai` SDK, straight to Yandex AI Studio Realtime;
- `websockets`: the same with the `websockets` library only;
- `curl`: bash and curl against this playground's REST API (the session runs through the playground,
  so it is recorded like any other).

Every value of the preset is embedded as a literal (Python `repr`, or JSON in single-quoted bash
strings); secrets never are: the scripts read them from the environment (`YC_API_KEY` or
`YC_IAM_TOKEN`, `YC_FOLDER_ID`; `PLAYGROUND_TOKEN` for curl). Pure functions, no Django.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

CODE_LANGS = ("openai", "websockets", "curl")

YANDEX_BASE_URL = "wss://ai.api.cloud.yandex.net/v1"
YANDEX_MODEL = "speech-realtime-250923"
MAX_TOOL_ROUNDS = 10  # the scripts stop answering function calls after this many rounds in a row
_WIDTH = 100  # Python literals wider than this are spread over several lines


def preset_code(*, name: str, content: dict[str, Any], lang: str, playground_url: str) -> dict[str, str]:
    """`{"lang", "filename", "code"}`: a script running the preset `content` in `lang` (one of CODE_LANGS)."""
    if lang not in CODE_LANGS:
        raise ValueError(f"Unknown code language {lang!r}: choose one of {', '.join(CODE_LANGS)}.")
    title = _one_line(name) or "Preset"
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:60].strip("-") or "preset"
    session = {"type": "realtime", **(content.get("session") or {})}
    response = content.get("response") or None
    conversation = list(content.get("conversation") or [])
    tool_outputs = dict(content.get("tool_outputs") or {})
    if lang == "curl":
        filename = f"{slug}-curl.sh"
        code = _curl(
            title=title,
            filename=filename,
            session=session,
            response=response,
            conversation=conversation,
            tool_outputs=tool_outputs,
            playground_url=playground_url.rstrip("/"),
        )
    else:
        filename = f"{slug}-{lang}.py"
        code = _python(
            lang=lang,
            title=title,
            filename=filename,
            session=session,
            response=response,
            conversation=conversation,
            tool_outputs=tool_outputs,
        )
    return {"lang": lang, "filename": filename, "code": code}


def _one_line(text: str) -> str:
    """Text safe inside a one-line comment: no line breaks, no control characters."""
    return " ".join("".join(c if c.isprintable() else " " for c in text).split())


def _fill(template: str, values: dict[str, str]) -> str:
    # Placeholders are `__NAME__`; every value is substituted in one pass, so a value that happens to
    # contain another placeholder's name stays as it is.
    return re.sub(r"__([A-Z_]+?)__", lambda m: values.get(m.group(1), m.group(0)), template)


# --- Python literals -------------------------------------------------------------------------------------------


def _py_str(text: str) -> str:
    """A string literal; double quotes when that needs no escape (as ruff format writes them)."""
    literal = repr(text)
    if literal.startswith("'") and '"' not in text and "'" not in text:
        literal = '"' + literal[1:-1] + '"'
    return literal


def _inline(value: Any, scalar: Callable[[Any], str]) -> str:
    if isinstance(value, dict):
        return "{" + ", ".join(f"{scalar(str(k))}: {_inline(v, scalar)}" for k, v in value.items()) + "}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_inline(v, scalar) for v in value) + "]"
    return scalar(value)


def _py_scalar(value: Any) -> str:
    if isinstance(value, str):
        return _py_str(value)
    if value is None or isinstance(value, bool | int | float):
        return repr(value)
    raise TypeError(f"Not a JSON value: {type(value).__name__}")


def _json_scalar(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def _literal(value: Any, *, python: bool, indent: int = 0, used: int | None = None) -> str:
    """A Python literal (or JSON text) of a JSON value, spread over lines the way ruff format would when wide.

    `indent`: the indentation of the line it starts on; `used`: the characters before it on that line.
    """
    scalar = _py_scalar if python else _json_scalar
    inline = _inline(value, scalar)
    if (indent if used is None else used) + len(inline) + 1 <= _WIDTH:
        return inline
    pad, inner = " " * indent, " " * (indent + (4 if python else 2))
    comma = "," if python else ""  # Python keeps the last comma, as ruff format does
    if isinstance(value, dict) and value:
        lines = []
        for key, item in value.items():
            prefix = f"{inner}{scalar(str(key))}: "
            lines.append(prefix + _literal(item, python=python, indent=len(inner), used=len(prefix)))
        return "{\n" + ",\n".join(lines) + f"{comma}\n{pad}}}"
    if isinstance(value, list | tuple) and value:
        lines = [inner + _literal(item, python=python, indent=len(inner)) for item in value]
        return "[\n" + ",\n".join(lines) + f"{comma}\n{pad}]"
    if python and isinstance(value, str):
        # A long text: implicit concatenation of pieces cut after spaces, in parentheses.
        size = max(20, _WIDTH - len(inner) - 6)
        pieces = re.findall(rf".{{1,{size}}}(?:\s+|$)|\S+\s*", value, flags=re.S)
        if len(pieces) > 1 and "".join(pieces) == value:
            return "(\n" + "\n".join(inner + _py_str(p) for p in pieces) + f"\n{pad})"
    return inline


# --- Python scripts --------------------------------------------------------------------------------------------

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


def _python(
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
        _fill(
            _PY_HEADER,
            {
                "TITLE": title,
                "VIA": via,
                "REQUIREMENT": requirement,
                "FILENAME": filename,
                "IMPORTS": imports,
                "BASE_URL": _py_str(YANDEX_BASE_URL),
                "MODEL": _py_str(YANDEX_MODEL),
                "MAX_TOOL_ROUNDS": str(MAX_TOOL_ROUNDS),
                "SESSION": _literal(session, python=True, used=len("SESSION = ")),
                "CONVERSATION": _literal(conversation, python=True, used=len("CONVERSATION = ")),
                "RESPONSE": _literal(response, python=True, used=len("RESPONSE = ")),
                "TOOL_OUTPUTS": _literal(tool_outputs, python=True, used=len("TOOL_OUTPUTS = ")),
            },
        )
        + main
    )


# --- curl ------------------------------------------------------------------------------------------------------


def _sh_quote(text: str) -> str:
    """A single-quoted bash word: nothing inside is expanded; a quote is closed, escaped and reopened."""
    return "'" + text.replace("'", "'\\''") + "'"


def _sh_json(value: Any, used: int = 0) -> str:
    return _sh_quote(_literal(value, python=False, used=used))


# Reads the Server-Sent Events of one response.create: prints the answer, counts audio, and writes the
# function_call_output events answering the response's function calls to the file argv[1]. No single quote
# anywhere: it sits in a single-quoted bash string.
_SSE_READER = """\
import base64, json, sys

calls_file, tool_outputs = sys.argv[1], json.loads(sys.argv[2])
rate, audio_bytes, other = 44100, 0, []
for line in sys.stdin:
    if not line.startswith("data: "):
        if line.strip() and not line.startswith((":", "id:", "event:")):
            other.append(line.strip())  # not SSE: an error answer
        continue
    frame = json.loads(line[len("data: "):])
    if frame.get("direction") == "client":
        continue
    event = frame.get("event")
    if frame.get("direction") != "server" or not event:
        sys.exit("playground: " + json.dumps(frame, ensure_ascii=False))  # the upstream closed, or a gap
    kind = event["type"]
    if kind == "error":
        sys.exit("error: " + json.dumps(event["error"], ensure_ascii=False))
    if kind == "response.created":
        audio = event["response"].get("audio") or {}
        rate = ((audio.get("output") or {}).get("format") or {}).get("rate") or rate
    elif kind == "response.output_item.added" and event["item"]["type"] == "message":
        print("assistant: ", end="", flush=True)
    elif kind in ("response.output_text.delta", "response.output_audio_transcript.delta"):
        print(event["delta"], end="", flush=True)
    elif kind == "response.output_audio.delta":
        audio_bytes += len(base64.b64decode(event["delta"]))  # PCM16 mono: count it, do not play it
    elif kind == "response.output_item.done":
        item = event["item"]
        if item["type"] == "message":
            print()
        elif item["type"] == "function_call":
            print("[function call] %s(%s)" % (item["name"], item["arguments"]))
    elif kind == "response.done":
        response = event["response"]
        if audio_bytes:
            seconds = audio_bytes / 2 / rate
            print("[audio] %d bytes of PCM16 at %d Hz (%.2f s), not played" % (audio_bytes, rate, seconds))
        if response["status"] != "completed":
            print("[response %s] %s" % (response["status"], json.dumps(response.get("status_details"))))
        if response["status"] == "failed":
            sys.exit(1)
        with open(calls_file, "w") as calls:
            for item in response.get("output") or []:
                if item["type"] == "function_call":
                    fallback = json.dumps({"error": "no canned output for " + item["name"]})
                    output = tool_outputs.get(item["name"], fallback)
                    print("[function output] %s -> %s" % (item["name"], output))
                    answer = {"type": "function_call_output", "call_id": item["call_id"], "output": output}
                    calls.write(json.dumps({"type": "conversation.item.create", "item": answer}) + "\\n")
        sys.exit(0)
sys.exit("The stream ended before response.done. " + " ".join(other))
"""

# Prints one conversation.item.create event of the opening conversation, as the Python scripts do.
_SHOW_ITEM = """\
import json, sys

item = json.load(sys.stdin)["item"]
if item.get("type") == "message":
    texts = [part.get("text") or part.get("transcript") or "" for part in item.get("content") or []]
    print(item["role"] + ": " + " ".join(t for t in texts if t))
else:
    print("[%s] %s" % (item["type"], json.dumps(item, ensure_ascii=False)))
"""

_CURL = """\
#!/usr/bin/env bash
# Preset "__TITLE__" through the Realtime Playground's REST API, with curl.
#
#   export PLAYGROUND_TOKEN=...   # an API token: python manage.py create_api_token <username>
#   bash __FILENAME__
#
# It opens a live session with the preset's config, creates the opening conversation, streams
# response.create as Server-Sent Events, answers function calls with the preset's canned outputs,
# and closes the session (its recording stays in the playground). Needs curl and python3.
# PLAYGROUND_URL overrides the playground's address.
set -euo pipefail

BASE=${PLAYGROUND_URL:-__URL__}
: "${PLAYGROUND_TOKEN:?set PLAYGROUND_TOKEN to an API token (python manage.py create_api_token <username>)}"
AUTH="Authorization: Bearer $PLAYGROUND_TOKEN"
MAX_TOOL_ROUNDS=__MAX_TOOL_ROUNDS__

# The preset: the session config, the opening conversation, response.create (with the preset's
# overrides), and per tool name the output answered when the model calls that tool.
SESSION=__SESSION__
CONVERSATION=(
__CONVERSATION__)
RESPONSE_CREATE=__RESPONSE_CREATE__
TOOL_OUTPUTS=__TOOL_OUTPUTS__

# post PATH JSON: prints the answer; on an HTTP error prints it to stderr and fails.
# (The body goes through stdin: an argument could be too long for an item with audio.)
post() {
  local answer
  if ! answer=$(printf '%s' "$2" | curl -sS --fail-with-body -H "$AUTH" -H 'Content-Type: application/json' \\
    --data-binary @- "$BASE$1"); then
    printf '%s\\n' "$answer" >&2
    return 1
  fi
  printf '%s\\n' "$answer"
}

# stream PATH JSON CALLS_FILE: posts a client event and prints the answer from its Server-Sent Events.
stream() {
  printf '%s' "$2" |
    curl -sS -N --fail-with-body -H "$AUTH" -H 'Content-Type: application/json' -H 'Accept: text/event-stream' \\
      --data-binary @- "$BASE$1" |
    python3 -u -c __SSE_READER__ "$3" "$TOOL_OUTPUTS"
}

SID=
CALLS=$(mktemp)
cleanup() {
  rm -f "$CALLS"
  if [ -n "$SID" ]; then
    post "/api/sessions/$SID/close" '{}' >/dev/null && echo "Session $SID closed; its recording stays."
  fi
}
trap cleanup EXIT

created=$(post /api/sessions "$SESSION")
SID=$(printf '%s' "$created" | python3 -c 'import sys, json; print(json.load(sys.stdin)["id"])')
echo "Session $SID is live."

for event in "${CONVERSATION[@]}"; do
  printf '%s' "$event" | python3 -c __SHOW_ITEM__
  post "/api/sessions/$SID/client-events/conversation.item.create" "$event" >/dev/null
done

for ((round = 0; round <= MAX_TOOL_ROUNDS; round++)); do
  stream "/api/sessions/$SID/client-events/response.create" "$RESPONSE_CREATE" "$CALLS"
  [ -s "$CALLS" ] || break
  # The model called tools: send the canned outputs, then ask for the next response.
  while IFS= read -r event; do
    post "/api/sessions/$SID/client-events/conversation.item.create" "$event" >/dev/null
  done <"$CALLS"
done
"""


def _curl(
    *,
    title: str,
    filename: str,
    session: dict[str, Any],
    response: dict[str, Any] | None,
    conversation: list[dict[str, Any]],
    tool_outputs: dict[str, str],
    playground_url: str,
) -> str:
    response_create: dict[str, Any] = {"type": "response.create", **({"response": response} if response else {})}
    items = "".join(
        "  " + _sh_quote(json.dumps({"type": "conversation.item.create", "item": item}, ensure_ascii=False)) + "\n"
        for item in conversation
    )
    return _fill(
        _CURL,
        {
            "TITLE": title,
            "FILENAME": filename,
            "URL": _sh_quote(playground_url),
            "MAX_TOOL_ROUNDS": str(MAX_TOOL_ROUNDS),
            "SESSION": _sh_json({"session": session}, used=len("SESSION='")),
            "CONVERSATION": items,
            "RESPONSE_CREATE": _sh_json(response_create, used=len("RESPONSE_CREATE='")),
            "TOOL_OUTPUTS": _sh_json(tool_outputs, used=len("TOOL_OUTPUTS='")),
            "SSE_READER": _sh_quote(_SSE_READER),
            "SHOW_ITEM": _sh_quote(_SHOW_ITEM),
        },
    )
