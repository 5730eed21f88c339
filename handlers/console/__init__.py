"""`/console`: the admins' web console, server-rendered (jinja2) like the board, one module per page group.

Every change calls the same service functions as the JSON admin API (`bot.admin.apps`, `bot.admin.users`,
`bot.admin.rules`, `bot.admin.tenant_settings`...), so a form and an API call are validated alike. Sign-in,
sessions and CSRF: `common`, `login`, on the board's session code (`bot.board.access`) in the console's own
realm (`bot.console`).
"""

from __future__ import annotations

from aiohttp import web

from handlers.console import activity, apps, login, people, rules, settings


def setup(app: web.Application) -> None:
    for module in (login, apps, people, rules, settings, activity):
        module.setup(app)
