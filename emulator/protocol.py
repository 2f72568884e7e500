"""What every part of the emulator shares: JSON shapes, the client error, ids and the checks of client input."""

from __future__ import annotations

from typing import Any, Protocol

Json = dict[str, Any]
Event = tuple[str, Json]  # (type, fields without type and event_id)


class ClientError(Exception):
    """A client event we refuse; becomes an `error` event and the connection goes on."""

    def __init__(self, code: str, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.param = param


class Emit(Protocol):
    """How the parts of a connection send a server event: its type and fields (the connection adds the event id)."""

    async def __call__(self, type_: str, **fields: Any) -> None: ...


class Ids:
    """Sequential ids per prefix: the same script on a fresh connection gives the same ids."""

    def __init__(self) -> None:
        self._counts: dict[str, int] = {}

    def next(self, prefix: str) -> str:
        number = self._counts.get(prefix, 0) + 1
        self._counts[prefix] = number
        return f"{prefix}_{number:04d}"


# --- validation of client input ----------------------------------------------------------------------------------


def require(obj: Json, name: str, kind: type | tuple[type, ...], what: str, *, prefix: str = "") -> Any:
    param = prefix + name
    if obj.get(name) is None:
        raise ClientError("missing_required_parameter", f"Missing required parameter '{param}'.", param)
    return check_type(obj[name], kind, what, param)


def optional(obj: Json, name: str, kind: type | tuple[type, ...], what: str, *, prefix: str = "") -> Any:
    if obj.get(name) is None:
        return None
    return check_type(obj[name], kind, what, prefix + name)


def check_type(value: Any, kind: type | tuple[type, ...], what: str, param: str) -> Any:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    # bool is an int in Python, never in JSON schemas.
    if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
        raise ClientError("invalid_type", f"'{param}' must be {what}.", param)
    return value
