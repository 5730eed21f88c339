"""Who may see the board, and how they sign in: one-time links sent in chat, then a signed session cookie.

No passwords: a manager or admin asks the bot (看板) or opens the digest card, and gets a link carrying a random
token. The token is stored in Redis only as its SHA-256, with an expiry, and is spent by its first use (GETDEL:
two tabs racing on one link sign in once). Opening the link shows a page with a button; only that POST spends the
token, so chat link previews and mail scanners, which fetch links, spend nothing.

The session is a random id kept in Redis (so signing out, or the person losing their role, ends it), sent as a
cookie signed with a key derived from the master key (itsdangerous), HttpOnly, SameSite=Lax, Secure when the
service's public URL is https. Each session has its own CSRF token, which every form posts back.

Who sees what: an admin their tenant; a manager their team (themselves and their direct reports) and the leads
those people hold; nobody else anything. The person is re-read on every request: a deactivated user or one who
is no longer a manager is signed out at once.

The admin console (`handlers/console/`) signs in the same way in its own `Realm`: other Redis keys, another
signing key, so a board link or cookie opens nothing there. A console session may stand for a person (a chat
link), a tenant admin token (`token_id`) or the operator (neither user nor tenant).
"""

from __future__ import annotations

import hashlib
import json
import secrets
from dataclasses import dataclass
from datetime import timedelta

from itsdangerous import BadSignature, Signer
from redis.asyncio import Redis

from storage import redis_keys
from storage.models import Role, User
from storage.secrets import SecretBox

COOKIE = "leadbot_board"
LINK_TTL = timedelta(minutes=15)
DIGEST_LINK_TTL = timedelta(hours=12)  # the digest is read over the morning
SESSION_TTL = timedelta(hours=12)
BOARD_ROLES = frozenset({Role.MANAGER, Role.ADMIN})


@dataclass(frozen=True, slots=True)
class Realm:
    """Where one kind of page keeps its links and sessions, and the key its cookies are signed with."""

    login_prefix: str
    session_prefix: str
    purpose: str
    session_ttl: timedelta


BOARD = Realm(redis_keys.BOARD_LOGIN, redis_keys.BOARD_SESSION, "board.session", SESSION_TTL)


@dataclass(frozen=True, slots=True)
class Session:
    id: str
    user_id: int
    tenant_id: int
    csrf: str
    # A console session opened with a token: which tenant token (None: a person or the operator), and for the
    # operator a digest of the operator token it was opened with (a changed token ends the session).
    token_id: int | None = None
    operator: str | None = None


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def may_use_board(user: User | None) -> bool:
    return user is not None and user.active and Role(str(user.role)) in BOARD_ROLES


async def issue_link_token(redis: Redis, user: User, ttl: timedelta = LINK_TTL, realm: Realm = BOARD) -> str:
    token = secrets.token_urlsafe(32)
    value = json.dumps({"user_id": user.id, "tenant_id": user.tenant_id})
    await redis.set(realm.login_prefix + _digest(token), value, px=int(ttl / timedelta(milliseconds=1)))
    return token


async def redeem_link_token(redis: Redis, token: str, realm: Realm = BOARD) -> tuple[int, int] | None:
    """(user id, tenant id) of an unspent, unexpired token, spending it; None otherwise."""
    if not token or len(token) > 100:
        return None
    raw = await redis.getdel(realm.login_prefix + _digest(token))
    if raw is None:
        return None
    data = json.loads(raw)
    return int(data["user_id"]), int(data["tenant_id"])


async def peek_link_token(redis: Redis, token: str, realm: Realm = BOARD) -> bool:
    """Whether the token could still sign someone in (the confirmation page says so before the POST)."""
    return bool(token) and len(token) <= 100 and bool(await redis.exists(realm.login_prefix + _digest(token)))


class Sessions:
    def __init__(self, redis: Redis, box: SecretBox, realm: Realm = BOARD) -> None:
        self.redis = redis
        self.realm = realm
        # The board's key and salt are as they always were: its signed-in browsers stay signed in.
        salt = "leadbot.board" if realm is BOARD else f"leadbot.{realm.purpose}"
        self.signer = Signer(box.derive(realm.purpose), salt=salt)

    async def open(self, user_id: int, tenant_id: int, *, token_id: int | None = None,
                   operator: str | None = None) -> tuple[Session, str]:
        """A new session and its cookie value."""
        session = Session(secrets.token_urlsafe(24), user_id, tenant_id, secrets.token_urlsafe(24), token_id,
                          operator)
        value = json.dumps({"user_id": user_id, "tenant_id": tenant_id, "csrf": session.csrf,
                            "token_id": token_id, "operator": operator})
        await self.redis.set(self.realm.session_prefix + session.id, value,
                             px=int(self.realm.session_ttl / timedelta(milliseconds=1)))
        return session, self.signer.sign(session.id).decode()

    async def find(self, cookie: str | None) -> Session | None:
        if not cookie or len(cookie) > 200:
            return None
        try:
            sid = self.signer.unsign(cookie).decode()
        except BadSignature:
            return None
        raw = await self.redis.get(self.realm.session_prefix + sid)
        if raw is None:
            return None
        data = json.loads(raw)
        return Session(sid, int(data["user_id"]), int(data["tenant_id"]), str(data["csrf"]), data.get("token_id"),
                       data.get("operator"))

    async def close(self, session: Session) -> None:
        await self.redis.delete(self.realm.session_prefix + session.id)


def csrf_ok(session: Session, sent: str | None) -> bool:
    return bool(sent) and secrets.compare_digest(session.csrf.encode(), str(sent).encode())


def team_of(viewer: User, people: list[User]) -> set[int] | None:
    """The user ids whose leads and figures the viewer sees; None for the whole tenant (an admin)."""
    if Role(str(viewer.role)) is Role.ADMIN:
        return None
    return {viewer.id, *(p.id for p in people if p.manager_id == viewer.id)}
