"""The bash script of "view code": curl against this playground's REST API (the session is recorded)."""

from __future__ import annotations

import json
from typing import Any

from .literals import MAX_TOOL_ROUNDS, fill, sh_json, sh_quote

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


def curl_script(
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
        "  " + sh_quote(json.dumps({"type": "conversation.item.create", "item": item}, ensure_ascii=False)) + "\n"
        for item in conversation
    )
    return fill(
        _CURL,
        {
            "TITLE": title,
            "FILENAME": filename,
            "URL": sh_quote(playground_url),
            "MAX_TOOL_ROUNDS": str(MAX_TOOL_ROUNDS),
            "SESSION": sh_json({"session": session}, used=len("SESSION='")),
            "CONVERSATION": items,
            "RESPONSE_CREATE": sh_json(response_create, used=len("RESPONSE_CREATE='")),
            "TOOL_OUTPUTS": sh_json(tool_outputs, used=len("TOOL_OUTPUTS='")),
            "SSE_READER": sh_quote(_SSE_READER),
            "SHOW_ITEM": sh_quote(_SHOW_ITEM),
        },
    )
