"""Canned tool outputs: a preset's answers to the model's function calls, sent by the playground.

So function calling can be shown without writing code: when a response ends with a call to a
tool the preset has an output for, the relay sends that output as a `function_call_output`
item and asks for the next response (with the preset's response overrides), as a client would.
Both are ordinary client events in the recording, with event ids starting `evt_canned_`.
"""

from __future__ import annotations

import uuid
from typing import Any

from .events import compact_json, event_to_wire, parse_client_event


def _wire(data: dict[str, Any]) -> str:
    data["event_id"] = f"evt_canned_{uuid.uuid4().hex[:16]}"
    return compact_json(event_to_wire(parse_client_event(data)))


class CannedToolOutputs:
    def __init__(self, *, outputs: dict[str, str], response: dict[str, Any] | None = None) -> None:
        self.outputs = outputs
        self.response = response

    def answers(self, response_done: dict[str, Any]) -> list[str]:
        """The client events (wire JSON) answering a `response.done`'s canned calls; [] when none."""
        output = (response_done.get("response") or {}).get("output") or []
        calls = [
            item
            for item in output
            if isinstance(item, dict) and item.get("type") == "function_call" and item.get("name") in self.outputs
        ]
        if not calls:
            return []
        texts = [
            _wire(
                {
                    "type": "conversation.item.create",
                    "item": {
                        "type": "function_call_output",
                        "call_id": call.get("call_id"),
                        "output": self.outputs[call["name"]],
                    },
                }
            )
            for call in calls
        ]
        create: dict[str, Any] = {"type": "response.create"}
        if self.response:
            create["response"] = self.response
        texts.append(_wire(create))
        return texts
