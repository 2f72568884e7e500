"""Function tools: which one a user message calls, its arguments, and the checks of `tools` and `tool_choice`."""

from __future__ import annotations

import json
import re
from typing import Any

from .protocol import ClientError, Json

QUERY_KEYS = ("query", "q", "text", "question", "message", "prompt", "input")
# Words too common to tell one tool from another.
STOPWORDS = frozenset(
    "a an and are at be by can could do does for from get give how i in is it me my of on or please set show "  # noqa: SIM905
    "tell that the this to what when where which who why will with would you your".split()
)


def words_of(text: str) -> list[str]:
    """Lower-case words, Cyrillic included; `_` splits words (tool names)."""
    return re.findall(r"[^\W_]+", text.lower())


def function_tools(tools: list[Json]) -> list[Json]:
    return [t for t in tools if t.get("type", "function") == "function" and isinstance(t.get("name"), str)]


def choose_tool(tools: list[Json], tool_choice: Any, said: str) -> Json | None:
    """The function tool a user message calls, if any (`tool_choice` as in the protocol)."""
    functions = function_tools(tools)
    if tool_choice == "none" or not functions:
        return None
    if isinstance(tool_choice, dict):
        return next((t for t in functions if t["name"] == tool_choice.get("name")), None)
    heard = set(words_of(said))
    # The tool's name speaks louder than its description: `get_weather` wins on "weather".
    for tool in functions:
        if (set(words_of(tool["name"])) - STOPWORDS) & heard:
            return tool
    for tool in functions:
        description = tool.get("description")
        keywords = {w for w in words_of(description if isinstance(description, str) else "") if len(w) >= 4}
        if (keywords - STOPWORDS) & heard:
            return tool
    return functions[0] if tool_choice == "required" else None


def tool_arguments(tool: Json, said: str) -> str:
    """JSON arguments for `tool`, from its parameters schema and the user's words."""
    schema = tool.get("parameters")
    properties = schema.get("properties") if isinstance(schema, dict) else None
    words = re.findall(r"[^\W_][\w'-]*", said)
    numbers = re.findall(r"-?\d+(?:\.\d+)?", said)
    arguments = {}
    for name, spec in (properties or {}).items():
        arguments[name] = _argument_value(name, spec if isinstance(spec, dict) else {}, said, words, numbers)
    return json.dumps(arguments, ensure_ascii=False)


def _argument_value(name: str, spec: Json, said: str, words: list[str], numbers: list[str]) -> Any:
    enum = spec.get("enum")
    if isinstance(enum, list) and enum:
        return enum[0]
    kind = spec.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), None)
    if kind in ("integer", "number"):
        number = float(numbers[0]) if numbers else 1.0
        return int(number) if kind == "integer" else number
    if kind == "boolean":
        return True
    if kind == "array":
        return []
    if kind == "object":
        return {}
    if name.lower() in QUERY_KEYS:
        return said
    # "what is the weather in Moscow" → city "Moscow": places tend to come last.
    return words[-1] if words else ""


def check_tools(value: Any, param: str) -> list[Json]:
    if not isinstance(value, list) or not all(isinstance(t, dict) for t in value):
        raise ClientError("invalid_type", f"'{param}' must be a list of tool objects.", param)
    for i, tool in enumerate(value):
        if tool.get("type", "function") == "function" and not isinstance(tool.get("name"), str):
            raise ClientError("missing_required_parameter", "A function tool needs a 'name'.", f"{param}[{i}].name")
    return value


def check_tool_choice(value: Any, tools: list[Json], param: str) -> Any:
    if value in ("auto", "none", "required"):
        return value
    if isinstance(value, dict) and value.get("type") == "function" and isinstance(value.get("name"), str):
        if not any(t["name"] == value["name"] for t in function_tools(tools)):
            raise ClientError("invalid_value", f"'{param}' names a function that is not in the tools.", param)
        return value
    raise ClientError(
        "invalid_value", f'\'{param}\' must be auto, none, required or {{"type": "function", "name": …}}.', param
    )
