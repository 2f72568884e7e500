"""The API's request parser: Ninja's JSON parser, refusing the NUL character.

PostgreSQL stores neither a NUL in text nor `\\u0000` in jsonb, and no realtime protocol field
needs one: refused up front as a 422 naming the field, instead of a 500 from the database after
half the work (SQLite would store it, so the two backends would disagree too).
"""

from __future__ import annotations

import json
from typing import Any

from django.http import HttpRequest
from django.utils.datastructures import MultiValueDict
from ninja.parser import Parser

from playground.errors import PlaygroundError


def nul_path(value: Any, path: str) -> str | None:
    """Where in `value` (a dotted path) a string holds a NUL; None when nowhere."""
    if isinstance(value, str):
        return path if "\x00" in value else None
    if isinstance(value, dict):
        for key, item in value.items():
            if "\x00" in key:
                return f"{path}.{key!r}" if path else repr(key)
            found = nul_path(item, f"{path}.{key}" if path else key)
            if found:
                return found
    if isinstance(value, list):
        for index, item in enumerate(value):
            found = nul_path(item, f"{path}[{index}]")
            if found:
                return found
    return None


def _refuse(field: str) -> PlaygroundError:
    message = f"{field}: contains the NUL character (\\u0000), which is not accepted."
    return PlaygroundError(message, status=422, field=field)


class NulRefusingParser(Parser):
    def parse_body(self, request: HttpRequest) -> Any:
        body = request.body
        data = json.loads(body)
        # Walked only when the raw text could hold one: an audio append's megabytes are searched once, in C.
        if b"\\u0000" in body or b"\x00" in body:
            field = nul_path(data, "")
            if field is not None:
                raise _refuse(field or "body")
        return data

    def parse_querydict(self, data: MultiValueDict, list_fields: list[str], request: HttpRequest) -> dict[str, Any]:
        for key, values in data.lists():
            if any("\x00" in v for v in values) or "\x00" in key:
                raise _refuse(key)
        return super().parse_querydict(data, list_fields, request)
