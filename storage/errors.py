"""The root of the service's error hierarchy, defined at the bottom layer so that storage can raise it without
importing `bot` (layers point one way); `bot.errors` re-exports both and adds the rest."""

from __future__ import annotations


class LeadbotError(Exception):
    """Base of every error the service raises on purpose."""


class ConfigError(LeadbotError):
    """A setting is missing or invalid; the message names the variable."""
