"""Errors the API turns into clear answers: an HTTP status, words, and the field at fault."""

from __future__ import annotations


class PlaygroundError(Exception):
    def __init__(self, message: str, *, status: int = 400, field: str | None = None, **extra: object) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.field = field
        self.extra = extra
