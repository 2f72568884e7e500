"""WebSocket origin checks.

Channels' AllowedHostsOriginValidator refuses a handshake without an Origin
header. Browsers always send one, so the check protects cookie-authenticated
browser sockets from other sites; scripts and SDKs (bearer tokens) send none
and are not a cross-site risk. So: no Origin is allowed, a foreign one is not.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import ParseResult

from channels.security.websocket import OriginValidator
from django.conf import settings


class BrowserOriginValidator(OriginValidator):
    def valid_origin(self, parsed_origin: ParseResult | None) -> bool:
        if parsed_origin is None:
            return True
        return bool(self.validate_origin(parsed_origin))


def allowed_hosts_origin_validator(application: Any) -> BrowserOriginValidator:
    allowed_hosts = settings.ALLOWED_HOSTS
    if settings.DEBUG and not allowed_hosts:
        allowed_hosts = ["localhost", "127.0.0.1", "[::1]"]
    return BrowserOriginValidator(application, allowed_hosts)
