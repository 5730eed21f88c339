"""Every Redis key the service writes, in one place, so prefixes never collide and `redis-cli --scan` is readable.

arq's own keys (`arq:queue`, `arq:job:*`, ...) are arq's business; everything of ours starts with `leadbot:`.
"""

PREFIX = "leadbot:"

# De-duplication of platform deliveries: dedup:<platform>:<app_id>:<dedup_key>
DEDUP = PREFIX + "dedup:"
# Access tokens shared by every process: token:<platform>:<app_id>, and their refresh lock
TOKEN = PREFIX + "token:"
TOKEN_LOCK = PREFIX + "token-lock:"
# Worker liveness: a sorted set of worker ids scored by their last heartbeat (epoch seconds)
WORKERS = PREFIX + "workers"
# Rate-limit windows: rate:<scope>:<id>
RATE = PREFIX + "rate:"
# Leases (one holder across processes), e.g. the DingTalk Stream connection of an app
LEASE = PREFIX + "lease:"
# The voice note a user pressed 更正 on: their next typed correction applies to it (voice-correcting:<user_id>)
VOICE_CORRECTING = PREFIX + "voice-correcting:"
# Embedded server bookkeeping: which processes use it
EMBEDDED_CLIENTS = PREFIX + "embedded:clients"


def dedup(platform: str, app_id: int | str, key: str) -> str:
    return f"{DEDUP}{platform}:{app_id}:{key}"


def token(platform: str, app_id: int | str) -> str:
    return f"{TOKEN}{platform}:{app_id}"


def token_lock(platform: str, app_id: int | str) -> str:
    return f"{TOKEN_LOCK}{platform}:{app_id}"


def rate(scope: str, ident: str) -> str:
    return f"{RATE}{scope}:{ident}"


def lease(name: str) -> str:
    return f"{LEASE}{name}"


def voice_correcting(user_id: int) -> str:
    return f"{VOICE_CORRECTING}{user_id}"
