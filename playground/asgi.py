"""ASGI entry point: HTTP through Django, WebSockets through Channels."""

import gc
import os

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "playground.settings")
# Django must be set up before anything imports models (as get_asgi_application does).
django.setup(set_prefix=False)

from playground.handler import LoopASGIHandler  # noqa: E402

django_asgi_app = LoopASGIHandler()

from playground import metrics  # noqa: E402

metrics.worker_started()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from playground.accounts.auth import BearerOrCookieAuthMiddleware  # noqa: E402
from playground.realtime.routing import websocket_urlpatterns  # noqa: E402
from playground.ws_security import allowed_hosts_origin_validator  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": allowed_hosts_origin_validator(BearerOrCookieAuthMiddleware(URLRouter(websocket_urlpatterns))),
    }
)

# Everything loaded so far (Django, the apps, their modules) lives as long as the process:
# keep it out of the garbage collector's full passes, which otherwise stall the event loop
# for milliseconds at a time while deltas wait (measured by `make bench`).
gc.freeze()
