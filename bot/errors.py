"""One base error for the service; platform errors keep what the platform said.

`TypeError`/`ValueError` stay reserved for programming mistakes: bad configuration or bad input from outside
raises a subclass of `LeadbotError` so callers can answer it precisely.
"""

from __future__ import annotations

# The root two live in storage (the bottom layer raises them too); re-exported here, where callers look.
from storage.errors import ConfigError as ConfigError
from storage.errors import LeadbotError as LeadbotError


class SignatureError(LeadbotError):
    """A platform callback whose signature is missing or does not match: not from the platform, or signed with
    another secret. The callback is refused with no effect."""


class StaleTimestamp(SignatureError):
    """A correctly signed callback whose timestamp is outside the accepted window: a replay, or a clock far off."""


class InvalidField(LeadbotError):
    """Input that passed its schema but breaks a rule needing more context (a URL, a manager, a combination)."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(reason)
        self.field = field
        self.reason = reason


class NotFound(LeadbotError):
    pass


class Conflict(LeadbotError):
    pass


class Forbidden(LeadbotError):
    pass


class PlatformError(LeadbotError):
    """A chat platform (or SMS/e-mail provider) refused or failed a call.

    `errcode` is the platform's own code (an int for most APIs, a string such as "InvalidAuthentication" for
    some), kept verbatim so deliveries record exactly what was said.
    """

    retryable = False
    # What a permission refusal says is missing (the scopes a platform names), and a finer code inside a general
    # one (an errcode with a sub_code): for `leadbot apps verify`.
    required_scopes: tuple[str, ...] = ()
    sub_code: str | None = None

    def __init__(
        self,
        errcode: int | str | None,
        errmsg: str = "",
        *,
        request_id: str | None = None,
        http_status: int | None = None,
    ) -> None:
        self.errcode = errcode
        self.errmsg = errmsg
        self.request_id = request_id
        self.http_status = http_status
        super().__init__(f"errcode={errcode} errmsg={errmsg!r}" + (f" request_id={request_id}" if request_id else ""))


class TokenExpired(PlatformError):
    """The access token was refused: drop it from the cache and retry the call once."""

    retryable = True


class RateLimited(PlatformError):
    """The platform throttled us; `retry_after_s` is how long to wait before the next try."""

    retryable = True

    def __init__(self, *args, retry_after_s: float = 60.0, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.retry_after_s = retry_after_s


class RecipientError(PlatformError):
    """The recipient cannot be reached on this channel (not visible, no permission, IP not trusted...).

    Retrying the same channel will not help: the fallback chain moves on to the next one.
    """


class TransientError(PlatformError):
    """A network error, a timeout, an HTTP 5xx or a 'system busy' answer: worth another try later."""

    retryable = True


class TargetRefused(PlatformError):
    """The outbound guard refused the target (a forbidden address, or a redirect): nothing was sent there, and
    trying again cannot help until an admin changes the address."""

    def __init__(self, errmsg: str) -> None:
        super().__init__("refused_target", errmsg)


class MediaError(PlatformError):
    """Downloading media failed: an error body instead of audio, too large, or expired."""


class CardExpired(PlatformError):
    """A card can no longer be updated in place (response code used or expired): send a fresh card."""
