"""Schemas every app's API answers with: the error body (playground/api.py's handlers write it)."""

from __future__ import annotations

from ninja import Schema


class ErrorOut(Schema):
    """Every error: what went wrong in words, and the field at fault (null when it is no one field)."""

    detail: str
    field: str | None = None
    errors: list[dict[str, str]] | None = None  # every field at fault, when several are
    valid_types: list[str] | None = None  # an unknown client event type: the ones there are
