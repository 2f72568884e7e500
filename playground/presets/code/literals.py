"""Literals for the generated scripts: Python and JSON values laid out as ruff format would, bash words."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

YANDEX_BASE_URL = "wss://ai.api.cloud.yandex.net/v1"
YANDEX_MODEL = "speech-realtime-250923"
MAX_TOOL_ROUNDS = 10  # the scripts stop answering function calls after this many rounds in a row
_WIDTH = 100  # Python literals wider than this are spread over several lines


def one_line(text: str) -> str:
    """Text safe inside a one-line comment: no line breaks, no control characters."""
    return " ".join("".join(c if c.isprintable() else " " for c in text).split())


def fill(template: str, values: dict[str, str]) -> str:
    # Placeholders are `__NAME__`; every value is substituted in one pass, so a value that happens to
    # contain another placeholder's name stays as it is.
    return re.sub(r"__([A-Z_]+?)__", lambda m: values.get(m.group(1), m.group(0)), template)


# --- Python literals -------------------------------------------------------------------------------------------


def py_str(text: str) -> str:
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
        return py_str(value)
    if value is None or isinstance(value, bool | int | float):
        return repr(value)
    raise TypeError(f"Not a JSON value: {type(value).__name__}")


def _json_scalar(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def literal(value: Any, *, python: bool, indent: int = 0, used: int | None = None) -> str:
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
            lines.append(prefix + literal(item, python=python, indent=len(inner), used=len(prefix)))
        return "{\n" + ",\n".join(lines) + f"{comma}\n{pad}}}"
    if isinstance(value, list | tuple) and value:
        lines = [inner + literal(item, python=python, indent=len(inner)) for item in value]
        return "[\n" + ",\n".join(lines) + f"{comma}\n{pad}]"
    if python and isinstance(value, str):
        # A long text: implicit concatenation of pieces cut after spaces, in parentheses.
        size = max(20, _WIDTH - len(inner) - 6)
        pieces = re.findall(rf".{{1,{size}}}(?:\s+|$)|\S+\s*", value, flags=re.S)
        if len(pieces) > 1 and "".join(pieces) == value:
            return "(\n" + "\n".join(inner + py_str(p) for p in pieces) + f"\n{pad})"
    return inline


# --- bash -------------------------------------------------------------------------------------------------------


def sh_quote(text: str) -> str:
    """A single-quoted bash word: nothing inside is expanded; a quote is closed, escaped and reopened."""
    return "'" + text.replace("'", "'\\''") + "'"


def sh_json(value: Any, used: int = 0) -> str:
    return sh_quote(literal(value, python=False, used=used))
