"""What can go wrong talking to WeCom, in both directions.

Inbound: a callback we refuse (`CallbackRejected` and its subclasses) carries the WXBizMsgCrypt code of the official
sample and the HTTP status the route should answer, so the route needs no table of its own.

Outbound: `error_for` turns an `errcode` into a `bot.errors` class through tables, never through `errmsg` (the
docs warn that its text changes). Some codes mean different things per API: 40001 is "token refused" on a normal
call but "wrong secret" on gettoken, where refreshing again would only hammer a frequency-limited endpoint.
"""

from __future__ import annotations

import ipaddress
import re

from bot import errors
from bot.errors import (
    CardExpired,
    LeadbotError,
    MediaError,
    PlatformError,
    RateLimited,
    RecipientError,
    TokenExpired,
    TransientError,
)

# -- inbound ---------------------------------------------------------------------------------------------------------


class CallbackRejected(LeadbotError):
    """A callback (GET verification or POST) that must have no effect."""

    code: int = -40002
    http_status: int = 400

    def __init__(self, reason: str, code: int | None = None) -> None:
        if code is not None:
            self.code = code
        self.reason = reason
        super().__init__(f"{reason} (code {self.code})")


class SignatureError(CallbackRejected, errors.SignatureError):
    """The shared `bot.errors.SignatureError`, carrying the sample's code and the status the route answers."""

    code = -40001
    http_status = 403


class StaleTimestamp(SignatureError, errors.StaleTimestamp):
    """Correctly signed, but its timestamp is too far from now: a replay (or a clock far off)."""


class ReceiveIdError(CallbackRejected):
    """The decrypted message names another corp (or suite) than this app's CorpID."""

    code = -40005
    http_status = 403


class DecryptError(CallbackRejected):
    """-40010 not base64, -40008 bad framing (block size, padding, length field), -40007 cipher failure."""

    code = -40007


class MalformedPayload(CallbackRejected):
    code = -40002


class HostileXml(MalformedPayload):
    """A DTD, an entity declaration or an external reference: never expanded, always refused."""


# -- outbound --------------------------------------------------------------------------------------------------------


class FrequencyLimited(RateLimited):
    """WeCom's own API-frequency answer (45009/45033), as opposed to our client-side per-member window.

    Only this one is worth an immediate, bounded backoff inside the adapter: the call was refused, not delivered.
    """


_COMMON: dict[int, type[PlatformError]] = {
    40014: TokenExpired,  # invalid access_token (also what an expired token often comes back as)
    42001: TokenExpired,  # access_token expired
    40001: TokenExpired,  # documented as "bad secret", seen for tokens revoked by a secret reset
    41001: TokenExpired,  # missing access_token: only happens if we sent none; refetch
    45009: FrequencyLimited,  # API frequency limit
    45033: FrequencyLimited,  # API concurrency limit
    -1: TransientError,  # system busy, "retry at most 3 times"
    40003: RecipientError,  # invalid UserID
    48002: RecipientError,  # API forbidden for this app (permission)
    60011: RecipientError,  # no privilege on member/department/tag
    60020: RecipientError,  # caller IP not in the app's trusted IPs: this channel is unusable from here
    60021: RecipientError,  # userid not in the app's visible range
    81013: RecipientError,  # every UserID/department/tag invalid or not permitted
    82001: RecipientError,  # every recipient empty/invalid
}

# Per-API meaning of a code, consulted before _COMMON.
_PER_API: dict[str, dict[int, type[PlatformError]]] = {
    # On gettoken these are credential problems: no token to drop, and retrying cannot help.
    "gettoken": {40001: PlatformError, 40013: PlatformError, 40091: PlatformError, 41002: PlatformError},
    # A response_code works once and expires (24 h is the safe reading; newer docs say 72 h). The global code list
    # has 42022 "code已经被使用过。只能使用一次"; a spent code has also been answered 40150 (issue 23: a re-run after
    # a crash); no distinct "expired" code is documented, and an expired or unknown code is reported as an invalid
    # parameter (40058). 42016 "更新的task_id不存在" leaves nothing to update either. Each means the same to the
    # caller: this code cannot update the card (`bot.chat.cards` tells a code of its own spent in a crash from others).
    "message/update_template_card": {42022: CardExpired, 40150: CardExpired, 40058: CardExpired, 42016: CardExpired},
    "media/get": {40007: MediaError, 830002: MediaError},
}

# What an unknown code becomes on an API whose failures have a more precise meaning than PlatformError.
_DEFAULT_PER_API: dict[str, type[PlatformError]] = {"media/get": MediaError}

# Seconds to wait before the next try, by class, when WeCom gives no hint: its minute windows block for 60 s.
_RETRY_AFTER_S: dict[int, float] = {45009: 60.0, 45033: 1.0}

_HINT = re.compile(r"hint: \[([^\]]+)\]")


def request_id_of(errmsg: str) -> str | None:
    """WeCom's per-request id travels inside errmsg: "..., hint: [1695847276640293876906459], from ip: ..."."""
    m = _HINT.search(errmsg or "")
    return m.group(1) if m else None


def error_for(errcode: int, errmsg: str = "", *, api: str = "", http_status: int | None = None) -> PlatformError:
    """The exception for a non-zero `errcode` returned by `api` (the path after /cgi-bin/)."""
    cls = _PER_API.get(api, {}).get(errcode) or _COMMON.get(errcode) or _DEFAULT_PER_API.get(api, PlatformError)
    kwargs = {"request_id": request_id_of(errmsg), "http_status": http_status}
    if issubclass(cls, RateLimited):
        return cls(errcode, errmsg, retry_after_s=_RETRY_AFTER_S.get(errcode, 60.0), **kwargs)
    return cls(errcode, errmsg, **kwargs)


# Codes that mean the app cannot reach people from here, whatever the message: they flip the app to failing.
NOT_LIVE = {60020: "caller IP not in 企业可信IP", 48002: "API forbidden for this app",
            60011: "no privilege on the member or department", 40056: "invalid agentid"}
# Calls of diagnosis and directory sync: their refusals are reported by those, not held against the app.
_PROBE_APIS = frozenset({"agent/get", "department/list", "user/list"})
_FROM_IP = re.compile(r"from ip: ?([0-9A-Fa-f:.]{2,45})")


def caller_ip(errmsg: str) -> str | None:
    """The address WeCom saw, from its errmsg ("…, from ip: 1.2.3.4, more info at …"), if it is an IP literal."""
    m = _FROM_IP.search(errmsg or "")
    if not m:
        return None
    try:
        return str(ipaddress.ip_address(m.group(1)))
    except ValueError:
        return None


def not_live_reason(api: str, errcode: int, errmsg: str) -> str | None:
    """Why an app is not live, when this answer says so; None for any other error."""
    if errcode not in NOT_LIVE or api in _PROBE_APIS:
        return None
    reason = f"wecom errcode {errcode} on {api}: {NOT_LIVE[errcode]}"
    if errcode == 60020 and (ip := caller_ip(errmsg)):
        reason += f" (from ip {ip}: add it under 应用管理 → 企业可信IP)"
    return reason
