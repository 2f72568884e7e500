"""A guard that refuses any connection, or name lookup, beyond this machine's loopback (tests/conftest.py).

Installed for every test: a test that would reach Yandex (or anything else outside) fails, even one that
swallows the error, because the guard remembers every refusal and the fixture asserts there were none.
"""

from __future__ import annotations

import ipaddress
import socket
from typing import Any

# Names a test may look up: this machine only. A literal address is checked as an address.
_LOCAL_NAMES = {"localhost", "ip6-localhost", "ip6-loopback"}


def is_local(host: Any) -> bool:
    if host is None or host == "" or host == b"":
        return True  # binding: the local end
    name = host.decode() if isinstance(host, bytes) else str(host)
    name = name.strip("[]").split("%", 1)[0].lower()
    if name in _LOCAL_NAMES or name.endswith(".localhost"):
        return True
    try:
        address = ipaddress.ip_address(name)
    except ValueError:
        return False
    return address.is_loopback or address.is_unspecified


class LoopbackGuard:
    def __init__(self) -> None:
        self.refused: list[str] = []

    def _refuse(self, what: str) -> OSError:
        self.refused.append(what)
        return OSError(f"the test suite never leaves loopback: refused {what}")

    def install(self, monkeypatch: Any) -> None:
        real_getaddrinfo = socket.getaddrinfo
        real_connect = socket.socket.connect
        real_connect_ex = socket.socket.connect_ex
        guard = self

        def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
            if not is_local(host):
                raise guard._refuse(f"a lookup of {host!r}")
            return real_getaddrinfo(host, *args, **kwargs)

        def check(address: Any) -> None:
            if isinstance(address, tuple) and not is_local(address[0]):
                raise guard._refuse(f"a connection to {address!r}")

        def connect(self: socket.socket, address: Any) -> None:
            check(address)
            real_connect(self, address)

        def connect_ex(self: socket.socket, address: Any) -> int:
            check(address)
            return real_connect_ex(self, address)

        monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
        monkeypatch.setattr(socket.socket, "connect", connect)
        monkeypatch.setattr(socket.socket, "connect_ex", connect_ex)
