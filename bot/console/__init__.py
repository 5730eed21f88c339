"""The admin console's sign-in realm: the board's one-time links and sessions (`bot.board.access`), kept apart.

Its own Redis keys and signing key, so a board link or cookie opens nothing here; shorter sessions, since an admin
can change every rule of the tenant; a cookie sent only to `/console` with SameSite=Strict.
"""

from __future__ import annotations

from datetime import timedelta

from bot.board import access
from storage import redis_keys
from storage.models import Role, User

COOKIE = "leadbot_console"
SESSION_TTL = timedelta(hours=8)
CONSOLE = access.Realm(redis_keys.CONSOLE_LOGIN, redis_keys.CONSOLE_SESSION, "console.session", SESSION_TTL)


def may_use_console(user: User | None) -> bool:
    return user is not None and user.active and Role(str(user.role)) is Role.ADMIN
