"""Platform limits and safe truncation of user text.

Our own words (button labels, field names) must fit: if one does not, that is a bug and rendering raises
`CardLimitError` naming the limit. Text that comes from users (company names, transcripts, reasons) is cut to
fit instead, by characters, never through a character and never between a character and the combining mark or
emoji joiner that belongs to it.
"""

from __future__ import annotations

import re
import unicodedata

from bot.errors import LeadbotError

ELLIPSIS = "…"
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_SPACES = re.compile(r"\s+")
# Characters that belong to the one before them: cutting just before one would strip it from its base.
_JOINERS = frozenset("\u200d\ufe0e\ufe0f")


class CardLimitError(LeadbotError):
    """A rendered card would break a platform limit; `limit` names it (e.g. "<platform>.button_list")."""

    def __init__(self, limit: str, value: object, maximum: object) -> None:
        self.limit = limit
        self.value = value
        self.maximum = maximum
        super().__init__(f"{limit}: {value!r} exceeds the limit {maximum!r}")


def clean(text: str, *, one_line: bool = False) -> str:
    """Drop control characters and lone surrogates (they would fail UTF-8 encoding at send time)."""
    text = text.encode("utf-8", "replace").decode("utf-8")
    text = _CONTROL.sub("", text)
    if one_line:
        text = _SPACES.sub(" ", text)
    return text.strip()


# Characters that make platform markdown do something (links, images, HTML tags, quotes, tables, code), turned into
# their full-width look-alikes: the platforms document no escape syntax, and Chinese text reads the same.
_MARKDOWN_ACTIVE = str.maketrans({"[": "［", "]": "］", "(": "（", ")": "）", "<": "＜", ">": "＞", "`": "ˋ",
                                  "|": "｜"})
_SCHEME = re.compile(r"(?i)\b([a-z][a-z0-9+.\-]*):/{2}")
_HEADING = re.compile(r"(?m)^(\s*)#")


def inert_markdown(text: str) -> str:
    """User text (a company, a transcript, a reason) as it must enter markdown: shown as written, never a link
    (`[x](https://phish)`, `<a href>`, a bare `dtmd://` or `https://` address) nor a heading or quote."""
    text = text.translate(_MARKDOWN_ACTIVE)
    text = _SCHEME.sub(lambda m: f"{m.group(1)}:／／", text)
    return _HEADING.sub(lambda m: f"{m.group(1)}＃", text)


def _belongs_to_previous(ch: str) -> bool:
    return ch in _JOINERS or unicodedata.combining(ch) != 0 or "\U0001f3fb" <= ch <= "\U0001f3ff"


def _cut(text: str, end: int) -> str:
    """`text[:end]`, backing off so the next character is not one that belongs to the last kept one."""
    while 0 < end < len(text) and (_belongs_to_previous(text[end]) or text[end - 1] == "\u200d"):
        end -= 1
    return text[:end]


def truncate(text: str, max_chars: int) -> str:
    """At most `max_chars` characters, ending in an ellipsis when shortened."""
    if max_chars < 1:
        raise ValueError("max_chars must be at least 1")
    if len(text) <= max_chars:
        return text
    return _cut(text, max_chars - 1) + ELLIPSIS


def truncate_bytes(text: str, max_bytes: int) -> str:
    """At most `max_bytes` bytes of UTF-8, ending in an ellipsis when shortened."""
    if len(text.encode()) <= max_bytes:
        return text
    budget = max_bytes - len(ELLIPSIS.encode())
    end = 0
    used = 0
    for ch in text:
        size = len(ch.encode())
        if used + size > budget:
            break
        used += size
        end += 1
    return _cut(text, end) + ELLIPSIS


def require(limit: str, value: int, maximum: int) -> None:
    if value > maximum:
        raise CardLimitError(limit, value, maximum)
