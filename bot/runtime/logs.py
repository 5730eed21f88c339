"""Logging: one line per request and per job, text for people or JSON for machines, personal data masked.

Masking happens in the formatter, after `%`-interpolation, so a phone number passed as an argument is caught too.
Secrets are kept out of log calls by construction; as a second line of defence every secret the process opens
is registered here and replaced by `***` wherever it would appear.

What a line is about travels as data, not only inside its text: `bound(request_id=..., tenant=..., app=...,
lead=..., job=...)` sets those fields in a context variable for the block (and every task it starts), and each
record logged meanwhile carries them: keys of the JSON object, `key=value` pairs at the end of a text line.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import logging
import re
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from types import MappingProxyType
from typing import Any

# Mainland mobiles (+86 optional) and other E.164 numbers; e-mail addresses.
_PHONE = re.compile(r"(?<![\w+])(\+?86[- ]?)?(1[3-9]\d)\d{4}(\d{4})(?!\d)|(?<![\w])\+(\d{2,3})\d{4,9}(\d{4})(?!\d)")
_MAYBE_PERSONAL = re.compile(r"\d{7}|@")
_EMAIL = re.compile(r"\b([A-Za-z0-9._%+-])[A-Za-z0-9._%+-]*@([A-Za-z0-9.-]+\.[A-Za-z]{2,})\b")

_secrets: set[str] = set()
_secrets_lock = threading.Lock()
_secret_pattern: re.Pattern[str] | None = None


def register_secret(value: str | None) -> None:
    """Never let `value` reach a log line. Short values are ignored: they would mask ordinary words."""
    global _secret_pattern
    if not value or len(value) < 6 or value in _secrets:
        return
    with _secrets_lock:
        _secrets.add(value)
        _secret_pattern = re.compile("|".join(re.escape(s) for s in sorted(_secrets, key=len, reverse=True)))


def _mask_phone(m: re.Match[str]) -> str:
    if m.group(2):
        return f"{m.group(1) or ''}{m.group(2)}****{m.group(3)}"
    return f"+{m.group(4)}****{m.group(5)}"


def mask(text: str) -> str:
    """Mask phone numbers and e-mail addresses, and blank out registered secrets."""
    if _secret_pattern is not None:
        text = _secret_pattern.sub("***", text)
    # Most lines (every request's) hold neither: one cheap scan decides whether the two costly ones must run.
    if _MAYBE_PERSONAL.search(text) is None:
        return text
    text = _PHONE.sub(_mask_phone, text)
    return _EMAIL.sub(lambda m: f"{m.group(1)}***@{m.group(2)}", text)


# The fields a record is about, in the order a text line shows them.
CONTEXT_FIELDS = ("request_id", "tenant", "app", "lead", "job")
_context: contextvars.ContextVar[Mapping[str, Any]] = contextvars.ContextVar(
    "leadbot_log_context", default=MappingProxyType({}))


@contextlib.contextmanager
def bound(**fields: Any) -> Iterator[None]:
    """Records logged inside the block carry `fields` (None values are left out; inner blocks add to outer ones)."""
    token = _context.set({**_context.get(), **{k: v for k, v in fields.items() if v is not None}})
    try:
        yield
    finally:
        _context.reset(token)


def bind(**fields: Any) -> None:
    """Add fields to the current context until it ends (a request's or a job's task): for what is learnt midway,
    such as the tenant a token belongs to."""
    _context.set({**_context.get(), **{k: v for k, v in fields.items() if v is not None}})


def context() -> dict[str, Any]:
    return dict(_context.get())


class ContextFilter(logging.Filter):
    """Copies the bound context onto each record (fields given with `extra=` win)."""

    def filter(self, record: logging.LogRecord) -> bool:
        for key, value in _context.get().items():
            if not hasattr(record, key):
                setattr(record, key, value)
        return True


class MaskingFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        fields = " ".join(f"{k}={getattr(record, k)}" for k in CONTEXT_FIELDS if hasattr(record, k))
        return mask(f"{text} [{fields}]" if fields else text)


_STANDARD_ATTRS = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """One JSON object per line; `extra={...}` fields become keys."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for k, v in vars(record).items():
            if k not in _STANDARD_ATTRS and not k.startswith("_"):
                out[k] = v
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return mask(json.dumps(out, ensure_ascii=False, default=str))


def setup_logging(level: str = "info", fmt: str = "text", stream: Any = None) -> None:
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.addFilter(ContextFilter())
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(MaskingFormatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s"))
    root = logging.getLogger()
    for h in list(root.handlers):
        if getattr(h, "_leadbot", False):
            root.removeHandler(h)
    handler._leadbot = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level.upper())
    # Third-party chatter that would log every request, SQL statement or job start and end at INFO (arq's own lines
    # were two thirds of an idle service's log; our `job` wrapper logs each run once, with its outcome).
    for name in ("aiohttp.access", "tortoise", "aiosqlite", "asyncio", "faster_whisper", "jieba", "arq"):
        logging.getLogger(name).setLevel(max(logging.WARNING, root.level))
