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
# Leases (one holder across processes), e.g. a platform's long connection for an app
LEASE = PREFIX + "lease:"
# The voice note a user pressed 更正 on: their next typed correction applies to it (voice-correcting:<user_id>)
VOICE_CORRECTING = PREFIX + "voice-correcting:"
# Embedded server bookkeeping: which processes use it
EMBEDDED_CLIENTS = PREFIX + "embedded:clients"
# Set once every pending timer is armed; its absence means Redis lost data and the timers must be re-armed
TIMERS_ARMED = PREFIX + "timers:armed"
# timer-running:<job id>: a timer's job is running in a live worker (expires with the job's timeout)
TIMER_RUNNING = PREFIX + "timer-running:"
# The board's one-time sign-in links (board-login:<sha256 of the token>) and sessions (board-session:<id>)
BOARD_LOGIN = PREFIX + "board-login:"
BOARD_SESSION = PREFIX + "board-session:"
# The admin console's, likewise (console-login:<sha256>, console-session:<id>)
CONSOLE_LOGIN = PREFIX + "console-login:"
CONSOLE_SESSION = PREFIX + "console-session:"
# job-holder:<job id>: the worker (host:pid) running that arq job, so a dead worker's jobs can be taken back
JOB_HOLDER = PREFIX + "job-holder:"
# job-outages:<job id>: how many tries of that job met the database or Redis down (they do not use up its tries)
JOB_OUTAGES = PREFIX + "job-outages:"
# tenant-version:<tenant id>: a random value, new whenever the tenant's rows every API request reads change (its
# tokens, the tenant, its routing rules, its webhook subscriptions): processes keep those rows while it stays the same
TENANT_VERSION = PREFIX + "tenant-version:"
# An admin's test card (bot.chat.testcard): one hash per test, and the app's latest test id.
TEST_CARD = PREFIX + "test-card:"


def dedup(platform: str, app_id: int | str, key: str) -> str:
    return f"{DEDUP}{platform}:{app_id}:{key}"


def dedup_set(platform: str, app_id: int | str) -> str:
    """The app's remembered delivery ids (a sorted set scored by expiry; `bot.runtime.queue`)."""
    return f"{DEDUP}{platform}:{app_id}"


def token(platform: str, app_id: int | str) -> str:
    return f"{TOKEN}{platform}:{app_id}"


def token_lock(platform: str, app_id: int | str) -> str:
    return f"{TOKEN_LOCK}{platform}:{app_id}"


def tenant_version(tenant_id: int) -> str:
    return f"{TENANT_VERSION}{tenant_id}"


def rate(scope: str, ident: str) -> str:
    return f"{RATE}{scope}:{ident}"


def lease(name: str) -> str:
    return f"{LEASE}{name}"


def voice_correcting(user_id: int) -> str:
    return f"{VOICE_CORRECTING}{user_id}"


def test_card(app_id: int | str, test_id: int | str) -> str:
    return f"{TEST_CARD}{app_id}:{test_id}"
