"""The aiohttp application factory, used by `leadbot serve` and by the tests.

`create_app(services)` wires routes and middleware around resources opened elsewhere, so tests can build an app on
their own database and Redis and `serve` can share one `Services` between the web half and its in-process worker.
"""

from __future__ import annotations

from aiohttp import web

from bot.appkeys import SERVICES
from bot.services import Services

# admin, leads, lexicon, exports and webhooks declare their routes on the registry that openapi.setup adds
from handlers import admin, dingtalk, exports, health, leads, lexicon, openapi, webhooks, wecom  # noqa: F401
from handlers.http import errors, observe


def create_app(services: Services) -> web.Application:
    # client_max_size bounds what aiohttp will buffer; handlers also check Content-Length first for a clean 413.
    app = web.Application(middlewares=[observe, errors], client_max_size=services.settings.max_body_bytes)
    app[SERVICES] = services
    health.setup(app)
    openapi.setup(app)
    wecom.setup(app)
    dingtalk.setup(app)
    return app
